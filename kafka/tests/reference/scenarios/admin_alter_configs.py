"""IncrementalAlterConfigs: set, delete back to the default, append to a list; each read back;
an unknown key and a bad value refused."""

import time

from common import confluent_admin, create_topics, emit, error_name, step, topic, wait_for_topic
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

create_topics([(topic(), 1, {"retention.ms": "3600000"})])
wait_for_topic(topic(), 1)
admin = confluent_admin()


def alter(*ops):
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
    resource = ConfigResource("topic", topic(), incremental_configs=entries)
    try:
        list(admin.incremental_alter_configs([resource]).values())[0].result(timeout=30)
        return None
    except Exception as e:
        return error_name(e)


def described(keys):
    entries = list(admin.describe_configs([ConfigResource("topic", topic())]).values())[0] \
        .result(timeout=30)
    return {k: [entries[k].value, entries[k].is_default] for k in keys}


def read(*keys, before=None):
    """The keys' values and default flags; after an alter, once they differ from `before`
    (Kafka applies an alteration through its metadata log, after answering it)."""
    now = described(keys)
    for _ in range(200):
        if before is None or now != before:
            break
        time.sleep(0.05)
        now = described(keys)
    return now


out = {}
step("set")
before = read("retention.ms", "max.message.bytes")
out["set"] = alter(("retention.ms", "7200000", AlterConfigOpType.SET),
                   ("max.message.bytes", "300000", AlterConfigOpType.SET))
out["after_set"] = before = read("retention.ms", "max.message.bytes", before=before)
step("delete")
out["delete"] = alter(("retention.ms", None, AlterConfigOpType.DELETE))
out["after_delete"] = read("retention.ms", "max.message.bytes", before=before)
step("append")
before = read("cleanup.policy")
out["append"] = alter(("cleanup.policy", "compact", AlterConfigOpType.APPEND))
out["after_append"] = before = read("cleanup.policy", before=before)
out["subtract"] = alter(("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT))
out["after_subtract"] = read("cleanup.policy", before=before)
step("refused")
out["unknown_key"] = alter(("no.such.config", "1", AlterConfigOpType.SET))
out["bad_value"] = alter(("retention.ms", "soon", AlterConfigOpType.SET))
out["after_refused"] = read("retention.ms")
emit(out)
