export { TransformWorker, ConverterEras, transformGroupId, stopReasonOf, type TransformWorkerOptions } from './worker.js';
export { Supervisor, STOP_REASONS, DEFAULT_RESTART_BACKOFF, type StopReason, type MemberStopped, type MemberEvents, type SupervisedMember, type SupervisorOptions } from './supervisor.js';
export { SupervisedTransform, type SupervisedTransformOptions } from './supervised-worker.js';
export { transformRecord, type RawRecordIn, type TransformOutcome, type TransformTarget } from './transform-record.js';
export { bundleRecord, dlqRecord } from './records.js';
export type { MessageConverter, RecordPublisher } from './types.js';
export { converterForChannel, converterSpecOf, convertChecked, mappingSetDir, type ChannelConverterOptions, type CheckedConversion } from './mapping-converter.js';
export { ConversionPool, type ConversionPoolOptions } from './pool.js';
export { runConvert, CONVERT_USAGE, type CommandIo, type ExitCode } from './convert-command.js';
