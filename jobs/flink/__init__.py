"""The correlation job on Apache Flink (PyFlink DataStream API, thread mode).

  routing   pure: a raw line -> the keys it goes to (the partition plan's cell or the single key, with
            neighbour replicas) or a dead letter
  keyed     pure: one key's core, the merge of its inputs in event time, its snapshot and input log
  operator  the KeyedProcessFunction around `keyed`: Flink keyed state, event-time timers
  kafka     Kafka tables (source with per-partition watermarks, exactly-once sinks) from KafkaSettings
  job       the pipeline, the environment (checkpoints, mini-cluster or remote cluster) and running it

Only operator, kafka and job import pyflink; the rest is tested without a cluster.
"""
