export { TransformWorker, transformGroupId, type TransformWorkerOptions } from './worker.js';
export { transformRecord, type RawRecordIn, type TransformOutcome, type TransformTarget } from './transform-record.js';
export { bundleRecord, dlqRecord } from './records.js';
export type { MessageConverter, RecordPublisher } from './types.js';
export { converterForChannel, convertChecked, mappingSetDir, type ChannelConverterOptions, type CheckedConversion } from './mapping-converter.js';
export { runConvert, CONVERT_USAGE, type CommandIo, type ExitCode } from './convert-command.js';
