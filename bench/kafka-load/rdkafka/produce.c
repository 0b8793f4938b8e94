/*
 * rdkafka-produce: what a broker takes from librdkafka alone, the baseline of
 * `kafka-load mirror`.
 *
 *   rdkafka-produce BOOTSTRAP TOPIC RECORDS
 *
 * Produces RECORDS records with keys "user-<n % 1000>" and 100-byte values to TOPIC
 * through one idempotent producer (acks=all, librdkafka's default linger and batch size,
 * Java's murmur2 partitioner: the keys spread as strom spreads them), waits until every
 * record is delivered, and prints the seconds it took. Exits 1 if any delivery failed.
 *
 * Build: cc -O2 -o rdkafka-produce produce.c -lrdkafka   (Debian: librdkafka-dev)
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
    if (msg->err) {
        if (failed++ == 0)
            fprintf(stderr, "rdkafka-produce: delivery failed: %s\n", rd_kafka_err2str(msg->err));
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka-produce: %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: rdkafka-produce BOOTSTRAP TOPIC RECORDS\n");
        return 2;
    }
    const char *topic = argv[2];
    long records = atol(argv[3]);
    char err[512];

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "partitioner", "murmur2_random");
    /* Room for every record in the queue: the figure is the broker's and librdkafka's, not
     * a queue-full back-off's. */
    set(conf, "queue.buffering.max.messages", "2000000");
    set(conf, "queue.buffering.max.kbytes", "2097151");
    rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rdkafka-produce: %s\n", err);
        return 1;
    }

    char value[100];
    memset(value, 'x', sizeof value);
    char key[32];
    double start = now();
    for (long n = 0; n < records; n++) {
        int key_len = snprintf(key, sizeof key, "user-%ld", n % 1000);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)key_len),
                RD_KAFKA_V_VALUE(value, sizeof value), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "rdkafka-produce: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120 * 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rdkafka-produce: not every record delivered within 120 s\n");
        return 1;
    }
    double elapsed = now() - start;
    rd_kafka_destroy(rk);
    if (failed) {
        fprintf(stderr, "rdkafka-produce: %ld deliveries failed\n", failed);
        return 1;
    }
    printf("%.6f\n", elapsed);
    return 0;
}
