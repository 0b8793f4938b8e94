"""An idempotent producer's batches sent by hand (InitProducerId, then Produce v7 of v2 batches
carrying its id, epoch and sequence numbers): the same batch sent twice is written once and
answered with the first one's offset; a sequence gap is refused; an unknown producer id too."""

from common import KEEP, batches_in, Connection, create_topics, emit, error_code_name, fetch_v4, \
    init_producer_id, produce_v7, record_batch, step, topic, wait_for_topic

create_topics([(topic(), 1, KEEP)])
wait_for_topic(topic(), 1)
conn = Connection()
step("init")
error, pid, epoch = init_producer_id(conn)
out = {"init": [error_code_name(error), pid >= 0, epoch]}


def send(sequence, records, producer_id=pid, producer_epoch=epoch):
    batch = record_batch([(b"k", r) for r in records], producer_id=producer_id,
                         producer_epoch=producer_epoch, base_sequence=sequence,
                         base_timestamp=1700000000000)
    answer = produce_v7(conn, topic(), 0, batch)
    if isinstance(answer, str):
        return answer
    return [error_code_name(answer[0]), answer[1]]


step("produce")
out["first"] = send(0, [b"a", b"b"])
out["same_again"] = send(0, [b"a", b"b"])
out["next"] = send(2, [b"c"])
out["next_again"] = send(2, [b"c"])
out["older_again"] = send(0, [b"a", b"b"])
out["gap"] = send(7, [b"x"])
out["after_gap"] = send(3, [b"d"])
out["old_epoch"] = send(4, [b"e"], producer_epoch=epoch - 1 if epoch > 0 else 5)
out["unknown_producer"] = send(0, [b"y"], producer_id=pid + 1000)
step("read back")
error, hw, records = fetch_v4(Connection(), topic(), 0, 0)
out["log"] = [error_code_name(error), hw, [b[:2] for b in batches_in(records)]]
emit(out)
