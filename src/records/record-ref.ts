/** Where a record sits in Kafka; offsets as strings, as Kafka gives them. */
export interface RecordRef {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}
