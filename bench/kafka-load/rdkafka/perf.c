/*
 * rdkafka-perf: one librdkafka client, with the same settings whatever the broker, for
 * `kafka-load compare` (strom serve beside Apache Kafka).
 *
 *   rdkafka-perf produce BOOTSTRAP TOPIC RECORDS SIZE ACKS
 *   rdkafka-perf consume BOOTSTRAP TOPIC RECORDS
 *   rdkafka-perf latency BOOTSTRAP TOPIC SAMPLES SIZE ACKS
 *
 * produce: RECORDS records of SIZE bytes, no key (librdkafka's sticky partitioner spreads
 *   them over the topic's partitions), linger.ms=5, batch.size=1000000 (librdkafka's own
 *   defaults, stated so that they stay fixed), acks=ACKS (1 or all; acks=all is also
 *   idempotent, as Kafka's producers are by default); waits until every record is
 *   acknowledged and prints the seconds from the first send to the last acknowledgement.
 * consume: every partition of TOPIC assigned from its beginning (no group: the figure is the
 *   fetch path's, not a rebalance's), read until RECORDS records have arrived; prints the
 *   seconds from the first record to the last, scaled to RECORDS (the start is left out as
 *   kafka-consumer-perf-test leaves out its group's join: a first fetch may hold only
 *   partitions whose offsets resolved first, and wait fetch.wait.max.ms on empty ones).
 * latency: a consumer waiting at the end of partition 0, and a producer (linger.ms=0,
 *   acks=ACKS) sending one SIZE-byte record to it at a time, the next once the previous has
 *   been read; the first tenth of the samples (connections warming up) is left out. Prints
 *   the median and the 99th percentile of send -> read, in microseconds (SIZE >= 32).
 *
 * Exits 1 on any failed delivery or client error, 2 on bad arguments.
 * Build: cc -O2 -o rdkafka-perf perf.c -lrdkafka   (Debian: librdkafka-dev)
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long failed = 0;

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    if (msg->err && failed++ == 0)
        fprintf(stderr, "rdkafka-perf: delivery failed: %s\n", rd_kafka_err2str(msg->err));
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka-perf: %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static rd_kafka_t *producer(const char *bootstrap, const char *acks, const char *linger) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", acks);
    set(conf, "enable.idempotence", strcmp(acks, "all") == 0 ? "true" : "false");
    set(conf, "linger.ms", linger);
    set(conf, "batch.size", "1000000");
    /* Room for every record in the queue: the figure is the broker's and librdkafka's, not
     * a queue-full back-off's. */
    set(conf, "queue.buffering.max.messages", "2000000");
    set(conf, "queue.buffering.max.kbytes", "2097151");
    rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rdkafka-perf: %s\n", err);
        exit(1);
    }
    return rk;
}

static rd_kafka_t *consumer(const char *bootstrap) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    /* librdkafka wants a group for its consumer; offsets are neither read nor committed. */
    set(conf, "group.id", "rdkafka-perf");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rdkafka-perf: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Every partition of TOPIC at OFFSET (RD_KAFKA_OFFSET_BEGINNING or _END). */
static void assign_all(rd_kafka_t *rk, const char *topic, int64_t offset) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 30000);
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "rdkafka-perf: metadata of %s: %s\n", topic,
                rd_kafka_err2str(e ? e : md->topics[0].err));
        exit(1);
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[p].id)->offset =
            offset;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if ((e = rd_kafka_assign(rk, list))) {
        fprintf(stderr, "rdkafka-perf: assign %s: %s\n", topic, rd_kafka_err2str(e));
        exit(1);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static int produce(const char *bootstrap, const char *topic, long records, size_t size,
                   const char *acks) {
    rd_kafka_t *rk = producer(bootstrap, acks, "5");
    char *value = malloc(size);
    if (!value)
        return 1;
    memset(value, 'x', size);
    double start = now();
    for (long n = 0; n < records; n++) {
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(value, size),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "rdkafka-perf: produce to %s: %s\n", topic, rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 300 * 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rdkafka-perf: not every record to %s delivered within 300 s\n", topic);
        return 1;
    }
    double elapsed = now() - start;
    rd_kafka_destroy(rk);
    free(value);
    if (failed) {
        fprintf(stderr, "rdkafka-perf: %ld deliveries to %s failed\n", failed, topic);
        return 1;
    }
    printf("%.6f\n", elapsed);
    return 0;
}

static int consume(const char *bootstrap, const char *topic, long records) {
    rd_kafka_t *rk = consumer(bootstrap);
    assign_all(rk, topic, RD_KAFKA_OFFSET_BEGINNING);
    long got = 0;
    double first = 0, last = now();
    while (got < records) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) {
            if (now() - last > 30) {
                fprintf(stderr, "rdkafka-perf: %ld of %ld records of %s, none for 30 s\n", got,
                        records, topic);
                return 1;
            }
            continue;
        }
        if (m->err) {
            fprintf(stderr, "rdkafka-perf: consume %s: %s\n", topic, rd_kafka_message_errstr(m));
            return 1;
        }
        last = now();
        if (got++ == 0)
            first = last;
        rd_kafka_message_destroy(m);
    }
    /* The records after the first over the time since it came. */
    double elapsed = (last - first) * (double)records / (double)(records - 1);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    printf("%.6f\n", elapsed);
    return 0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int latency(const char *bootstrap, const char *topic, long samples, size_t size,
                   const char *acks) {
    rd_kafka_t *c = consumer(bootstrap);
    rd_kafka_t *p = producer(bootstrap, acks, "0");
    /* The end as an offset, not RD_KAFKA_OFFSET_END: the consumer resolves that lazily, and
     * would skip a first sample sent before it did. */
    int64_t low, high;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, topic, 0, &low, &high, 30000);
    if (e) {
        fprintf(stderr, "rdkafka-perf: offsets of %s/0: %s\n", topic, rd_kafka_err2str(e));
        return 1;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, 0)->offset = high;
    e = rd_kafka_assign(c, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        fprintf(stderr, "rdkafka-perf: assign %s: %s\n", topic, rd_kafka_err2str(e));
        return 1;
    }
    /* The value carries its sample number, so that a late copy of an earlier one is never
     * taken for the one awaited. */
    char *value = malloc(size);
    double *micros = malloc(sizeof(double) * (size_t)samples);
    if (!value || !micros)
        return 1;
    memset(value, 'x', size);
    long warmup = samples / 10;
    for (long n = 0; n < samples; n++) {
        snprintf(value, 32, "%020ld", n);
        double sent = now();
        e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(value, size),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            fprintf(stderr, "rdkafka-perf: produce to %s: %s\n", topic, rd_kafka_err2str(e));
            return 1;
        }
        for (;;) {
            rd_kafka_poll(p, 0);
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
            if (!m) {
                if (now() - sent > 30) {
                    fprintf(stderr, "rdkafka-perf: sample %ld to %s not read within 30 s\n", n,
                            topic);
                    return 1;
                }
                continue;
            }
            double read = now();
            int ours = !m->err && m->len >= 20 && strncmp((const char *)m->payload, value, 20) == 0;
            if (m->err) {
                fprintf(stderr, "rdkafka-perf: consume %s: %s\n", topic, rd_kafka_message_errstr(m));
                return 1;
            }
            rd_kafka_message_destroy(m);
            if (ours) {
                micros[n] = (read - sent) * 1e6;
                break;
            }
        }
    }
    rd_kafka_flush(p, 30 * 1000);
    rd_kafka_destroy(p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (failed) {
        fprintf(stderr, "rdkafka-perf: %ld deliveries to %s failed\n", failed, topic);
        return 1;
    }
    long kept = samples - warmup;
    qsort(micros + warmup, (size_t)kept, sizeof(double), by_value);
    printf("%.1f %.1f\n", micros[warmup + (kept - 1) / 2], micros[warmup + (kept - 1) * 99 / 100]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "produce") == 0 && atol(argv[4]) > 0 && atol(argv[5]) > 0)
        return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]), argv[6]);
    if (argc == 5 && strcmp(argv[1], "consume") == 0 && atol(argv[4]) >= 2)
        return consume(argv[2], argv[3], atol(argv[4]));
    if (argc == 7 && strcmp(argv[1], "latency") == 0 && atol(argv[4]) >= 10 && atol(argv[5]) >= 32)
        return latency(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]), argv[6]);
    fprintf(stderr, "usage: rdkafka-perf produce BOOTSTRAP TOPIC RECORDS SIZE ACKS\n"
                    "       rdkafka-perf consume BOOTSTRAP TOPIC RECORDS (RECORDS >= 2)\n"
                    "       rdkafka-perf latency BOOTSTRAP TOPIC SAMPLES SIZE ACKS (SAMPLES >= 10, SIZE >= 32)\n");
    return 2;
}
