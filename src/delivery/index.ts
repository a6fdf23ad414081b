/**
 * Write-back delivery: destination files, and delivering one message under a destination's
 * retry policy with the receiver's ACK deciding between delivered and dead-letter.
 */
export { loadDestination, loadDestinations, type Destination, type RetryPolicy } from './destination.js';
export { deliver, receiverError, type AttemptResult, type DeliverHooks, type DeliveryOutcome, type SendFn } from './deliver.js';
export { DeliveryWorker, buildOutboundMessage, createDeliveryMetrics, dlqTopicOf, openConnection, parseJson, type Connection, type DeliveryMetrics, type DeliveryWorkerOptions, type OutboundDeadLetter } from './worker.js';
export { TokenBucket, type ThrottlePolicy } from './throttle.js';
export { runDeliver, DELIVER_USAGE } from './command.js';
export { prepareDestinations, type Prepared } from './prepare.js';
export { DeliveryFleet, DestinationReloader, createReloadCounter, destinationFingerprint, type DestinationReloadOutcome, type FleetAction, type FleetChange, type FleetOptions } from './fleet.js';
