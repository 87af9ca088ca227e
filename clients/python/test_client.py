#!/usr/bin/python3
"""Tests of the Python client: the apply rules on their own, then against a real `tidemark node`.

    ./generate.sh && /usr/bin/python3 test_client.py

Needs the repository built (`npx nx run-many -t build`) and `node` on PATH. The node is started
once, on a library of TIDEMARK_TEST_ENTRIES (default 20,000; at least 2,000) generated entries.
Prints "N passed, 0 failed" and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, message  # noqa: E402

import tidemark_client as tc  # noqa: E402
from tidemark.sync.v1 import records_pb2, sync_pb2  # noqa: E402

ENTRIES = int(os.environ.get("TIDEMARK_TEST_ENTRIES", "20000"))
VOLUMES, LOCATIONS = 5, 100
CLI = ["node", os.path.join(ROOT, "packages", "cli", "bin", "tidemark.js")]
T = sync_pb2  # enum values: T.RESOURCE_TYPE_ENTRY, ...


# ----------------------------------------------------------------------------------------------
# Apply rules, without a node
# ----------------------------------------------------------------------------------------------

A = "aaaaaaaa-0000-4000-8000-000000000001"  # device uuids: A < B
B = "bbbbbbbb-0000-4000-8000-000000000002"
TAG = "7a900000-0000-4000-8000-000000000001"
EPOCH, OTHER_EPOCH = "e1e1e1e1-0000-4000-8000-000000000001", "e2e2e2e2-0000-4000-8000-000000000002"


def hlc(ms: int, logical: int = 0) -> records_pb2.Hlc:
    return records_pb2.Hlc(physical_ms=ms, logical=logical)


def tag_batch(seq: int, rows=(), tombstones=(), epoch=EPOCH, reset=False) -> sync_pb2.StateBatch:
    """rows: (name, ms, origin); tombstones: (ms, origin); all for the uuid TAG."""
    return sync_pb2.StateBatch(
        resource_type=T.RESOURCE_TYPE_TAG,
        records=[sync_pb2.Record(tag=records_pb2.Tag(uuid=TAG, name=n, hlc=hlc(ms), origin=o)) for n, ms, o in rows],
        tombstones=[
            sync_pb2.Tombstone(resource_type=T.RESOURCE_TYPE_TAG, uuid=TAG, hlc=hlc(ms), origin=o)
            for ms, o in tombstones
        ],
        checkpoint=sync_pb2.Checkpoint(resource_type=T.RESOURCE_TYPE_TAG, epoch=epoch, seq=seq),
        reset=reset,
    )


class ApplyRulesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.store = tc.Store(os.path.join(self.dir.name, "c.db"), "11111111-0000-4000-8000-000000000000")

    def tearDown(self):
        self.store.close()
        self.dir.cleanup()

    def tag(self):
        rows = list(self.store.records(T.RESOURCE_TYPE_TAG))
        return rows[0].name if rows else None

    def test_clock_offset_compares_the_server_time_with_the_midpoint_of_the_round_trip(self):
        # Sent at 1,000 and answered at 1,100 on our clock; the node read 601,050 while answering.
        self.assertEqual(tc.clock_offset(1_000, 1_100, 601_050), (600_000, 100))
        self.assertEqual(tc.clock_offset(1_000, 1_100, 0), None)  # a node that predates the field

    def test_hlc_encoding_is_fixed_width_hex(self):
        self.assertEqual(tc.encode_hlc(hlc(1_700_000_000_000, 5)), "018bcfe568000005")
        self.assertEqual(tc.encode_hlc(hlc(1, 0xFFFF)), "000000000001ffff")

    def test_last_writer_wins_by_hlc_then_origin(self):
        self.assertEqual(self.store.apply_batch(B, tag_batch(1, rows=[("v1", 100, A)])), (1, 0))
        self.assertEqual(self.store.apply_batch(B, tag_batch(2, rows=[("older", 99, B)])), (0, 1))
        self.assertEqual(self.tag(), "v1")
        # Same hlc: the greater origin wins; the same (hlc, origin) again is skipped.
        self.assertEqual(self.store.apply_batch(B, tag_batch(3, rows=[("tie", 100, B)])), (1, 0))
        self.assertEqual(self.store.apply_batch(B, tag_batch(4, rows=[("tie", 100, B), ("v1", 100, A)])), (0, 2))
        self.assertEqual(self.tag(), "tie")

    def test_at_an_equal_hlc_and_origin_a_tombstone_wins_over_a_record(self):
        # Only a restored device reissuing a stamp makes both under one key: settled the same way
        # whichever arrives first.
        self.store.apply_batch(B, tag_batch(1, rows=[("v1", 100, A)]))
        self.assertEqual(self.store.apply_batch(B, tag_batch(2, tombstones=[(100, A)])), (1, 0))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG), (0, 1))
        self.assertEqual(self.store.apply_batch(B, tag_batch(3, rows=[("v1", 100, A)])), (0, 1))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG), (0, 1))

    def test_tombstones_delete_are_kept_and_only_lose_to_newer_writes(self):
        self.store.apply_batch(B, tag_batch(1, rows=[("v1", 100, A)]))
        self.store.apply_batch(B, tag_batch(2, tombstones=[(200, A)]))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG), (0, 1))
        self.store.apply_batch(B, tag_batch(3, rows=[("stale", 150, B)]))  # older than the delete
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG), (0, 1))
        self.store.apply_batch(B, tag_batch(4, rows=[("back", 300, B)]))  # newer: the row returns
        self.assertEqual((self.store.counts(T.RESOURCE_TYPE_TAG), self.tag()), ((1, 0), "back"))
        # Order inside a batch does not matter: the newest of the row and the tombstone wins.
        self.store.apply_batch(B, tag_batch(5, rows=[("x", 500, A)], tombstones=[(400, A)]))
        self.assertEqual((self.store.counts(T.RESOURCE_TYPE_TAG), self.tag()), ((1, 0), "x"))

    def test_a_malformed_batch_writes_nothing_and_keeps_the_cursor(self):
        self.store.apply_batch(B, tag_batch(7, rows=[("v1", 100, A)]))
        bad = tag_batch(9, rows=[("v2", 200, A)], tombstones=[(300, "NOT-A-UUID")])
        with self.assertRaises(tc.MalformedBatch):
            self.store.apply_batch(B, bad)
        bad = tag_batch(9, rows=[("v2", 0, A)])  # physical_ms 0 is not a valid stamp
        with self.assertRaises(tc.MalformedBatch):
            self.store.apply_batch(B, bad)
        self.assertEqual((self.tag(), self.store.cursor(B, T.RESOURCE_TYPE_TAG)), ("v1", tc.Cursor(EPOCH, 7)))

    def test_membership_changes_are_stored_first_and_never_deleted(self):
        self.assertEqual(tc.RESOURCE_TYPES[0], T.RESOURCE_TYPE_MEMBERSHIP)
        change = records_pb2.MembershipChange(
            uuid=TAG, action=records_pb2.MEMBERSHIP_ACTION_ADD, subject=A, signer=B, hlc=hlc(100), origin=B)
        cp = sync_pb2.Checkpoint(resource_type=T.RESOURCE_TYPE_MEMBERSHIP, epoch=EPOCH, seq=1)
        self.store.apply_batch(B, sync_pb2.StateBatch(resource_type=T.RESOURCE_TYPE_MEMBERSHIP, checkpoint=cp,
                                                      records=[sync_pb2.Record(membership=change)]))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_MEMBERSHIP), (1, 0))
        for bad in (
            sync_pb2.StateBatch(resource_type=T.RESOURCE_TYPE_MEMBERSHIP, checkpoint=cp, tombstones=[
                sync_pb2.Tombstone(resource_type=T.RESOURCE_TYPE_MEMBERSHIP, uuid=TAG, hlc=hlc(200), origin=B)]),
            sync_pb2.StateBatch(resource_type=T.RESOURCE_TYPE_MEMBERSHIP, checkpoint=cp, records=[
                sync_pb2.Record(membership=records_pb2.MembershipChange(
                    uuid=TAG, subject=A, signer=B, hlc=hlc(300), origin=A))]),  # origin is not the signer
        ):
            with self.assertRaises(tc.MalformedBatch):
                self.store.apply_batch(B, bad)
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_MEMBERSHIP), (1, 0))

    def test_cursor_keeps_the_commit_id_of_its_seq_and_refuses_a_malformed_one(self):
        def batch(seq, commit_id):
            b = tag_batch(seq)
            b.checkpoint.commit_id = commit_id
            return b

        self.store.apply_batch(B, batch(50, "ab" * 16))
        self.store.apply_batch(B, batch(3, "cd" * 16))  # a resent older batch: the cursor stays
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG), tc.Cursor(EPOCH, 50, "ab" * 16))
        with self.assertRaises(tc.MalformedBatch):
            self.store.apply_batch(B, batch(60, "not-a-commit-id"))
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG).seq, 50)

    def test_cursor_never_moves_back_within_an_epoch_and_adopts_a_reset(self):
        self.store.apply_batch(B, tag_batch(50))
        self.store.apply_batch(B, tag_batch(20))  # a resent, older batch
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG), tc.Cursor(EPOCH, 50))
        with self.assertRaises(tc.MalformedBatch):  # another epoch, not announced as a reset
            self.store.apply_batch(B, tag_batch(3, epoch=OTHER_EPOCH))
        self.store.apply_batch(B, tag_batch(3, epoch=OTHER_EPOCH, reset=True))
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG), tc.Cursor(OTHER_EPOCH, 3))

    def test_an_empty_batch_keeps_the_last_hlc_seen_and_a_reset_forgets_it(self):
        with_hlc = tag_batch(50, rows=[("t", 1000, B)])
        with_hlc.checkpoint.hlc.CopyFrom(hlc(1000))
        self.store.apply_batch(B, with_hlc)
        self.assertEqual(self.store.last_hlc(B, T.RESOURCE_TYPE_TAG), tc.encode_hlc(hlc(1000)))
        self.store.apply_batch(B, tag_batch(50))  # a resumed sync's caught_up batch: no items, no hlc
        self.assertEqual(self.store.last_hlc(B, T.RESOURCE_TYPE_TAG), tc.encode_hlc(hlc(1000)))
        self.store.apply_batch(B, tag_batch(0, epoch=OTHER_EPOCH, reset=True))
        self.assertIsNone(self.store.last_hlc(B, T.RESOURCE_TYPE_TAG))

    def test_only_a_caught_up_checkpoint_covers_prefixes_and_they_only_grow(self):
        def covering(seq: int, covered: int, caught_up: bool) -> sync_pb2.StateBatch:
            batch = tag_batch(seq, rows=[("t", 1000 + seq, B)])
            batch.caught_up = caught_up
            batch.checkpoint.covered.append(sync_pb2.OriginPrefix(origin=B, epoch=EPOCH, seq=covered))
            return batch

        self.store.apply_batch(B, covering(5, 40, caught_up=False))
        self.assertEqual(self.store.held(T.RESOURCE_TYPE_TAG), [])
        self.store.apply_batch(B, covering(6, 40, caught_up=True))
        self.store.apply_batch(B, covering(7, 30, caught_up=True))
        self.assertEqual(self.store.held(T.RESOURCE_TYPE_TAG), [sync_pb2.OriginPrefix(origin=B, epoch=EPOCH, seq=40)])
        self.assertEqual(self.store.held(T.RESOURCE_TYPE_ENTRY), [])

    def test_a_reset_in_the_same_epoch_forgets_the_claim_and_restarts_the_type_on_other_servers(self):
        covering = tag_batch(6, rows=[("t", 1000, B)])
        covering.caught_up = True
        covering.checkpoint.covered.append(sync_pb2.OriginPrefix(origin=B, epoch=EPOCH, seq=40))
        self.store.apply_batch(B, covering)
        self.store.apply_batch(A, tag_batch(30))  # another server, filtered by that claim
        other = tag_batch(12)
        other.resource_type = other.checkpoint.resource_type = T.RESOURCE_TYPE_LOCATION
        self.store.apply_batch(A, other)
        self.store.apply_batch(B, tag_batch(3, reset=True))  # B's history changed under EPOCH
        self.assertEqual(self.store.held(T.RESOURCE_TYPE_TAG), [])
        # What A left out on the strength of the claim lies below its cursor: the type starts over.
        self.assertEqual(self.store.cursor(A, T.RESOURCE_TYPE_TAG), tc.Cursor(EPOCH, 0))
        self.assertEqual(self.store.cursor(A, T.RESOURCE_TYPE_LOCATION), tc.Cursor(EPOCH, 12))

    def test_origin_lists_must_match_the_records(self):
        batch = tag_batch(9, rows=[("t", 1000, B)])
        batch.record_origin_seqs.extend([1, 2])
        with self.assertRaises(tc.MalformedBatch):
            self.store.apply_batch(B, batch)
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG), tc.Cursor())

    def test_digest_matches_the_test_vectors_in_docs_protocol(self):
        digest, origin = tc.Digest(), "fd0d5f70-520d-4654-8bb7-d45ec405de07"
        self.assertEqual(digest.hash, bytes(32))
        digest.add("r", "0b79cf7e-631e-451e-8aee-83d9646fee82", tc.encode_hlc(hlc(1764139200000, 7)), origin)
        self.assertEqual(digest.hash.hex(), "95fc32ac83714138d2b1851491e4998339a468f60132508e8ca2135859975c3d")
        digest.add("t", "5a0f3c1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b", "019abc0000000000", origin)
        self.assertEqual(digest.hash.hex(), "38599a8ebeb0cea58ed63077304256fd9bbee42dd9ecd034c81dc4547374bc56")

    def test_string_limits_of_records_proto_are_enforced(self):
        # A node refuses each of these whole (docs/protocol.md, "Limits"): so does this client.
        for name in ("", "x" * 257, "a\x1b[2Jb", "a\u0085b", "a\0b"):
            with self.assertRaises(tc.MalformedBatch):
                self.store.apply_batch(B, tag_batch(1, rows=[(name, 100, A)]))
        self.store.apply_batch(B, tag_batch(1, rows=[("é" * 128, 100, A)]))  # 256 bytes
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG), (1, 0))

    def test_required_references_must_be_uuids_and_optional_ones_may_be_empty(self):
        content, tag = "c0000000-0000-4000-8000-000000000001", "7a900000-0000-4000-8000-000000000002"

        def assignment(tag_uuid: str, content_uuid: str, seq: int) -> sync_pb2.StateBatch:
            row = records_pb2.TagAssignment(uuid=TAG, tag_uuid=tag_uuid, content_uuid=content_uuid,
                                            hlc=hlc(100), origin=A)
            return sync_pb2.StateBatch(
                resource_type=T.RESOURCE_TYPE_TAG_ASSIGNMENT, records=[sync_pb2.Record(tag_assignment=row)],
                checkpoint=sync_pb2.Checkpoint(resource_type=T.RESOURCE_TYPE_TAG_ASSIGNMENT, epoch=EPOCH, seq=seq))

        for tag_uuid, content_uuid, field in (("", content, "tag_uuid"), (tag, "", "content_uuid"),
                                              (tag, "NOT-A-UUID", "content_uuid")):
            with self.assertRaisesRegex(tc.MalformedBatch, f"tag_assignment record 0: {field} must be a lowercase"):
                self.store.apply_batch(B, assignment(tag_uuid, content_uuid, 1))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG_ASSIGNMENT), (0, 0))
        self.assertEqual(self.store.cursor(B, T.RESOURCE_TYPE_TAG_ASSIGNMENT), tc.Cursor())
        self.store.apply_batch(B, assignment(tag, content, 1))
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_TAG_ASSIGNMENT), (1, 0))

        # An entry's location is required; its parent and content may be empty.
        entry = records_pb2.Entry(uuid=TAG, device_uuid=A, location_uuid="", relative_path="x",
                                  kind=records_pb2.ENTRY_KIND_FILE, hlc=hlc(100), origin=A)
        batch = sync_pb2.StateBatch(resource_type=T.RESOURCE_TYPE_ENTRY, records=[sync_pb2.Record(entry=entry)],
                                    checkpoint=sync_pb2.Checkpoint(resource_type=T.RESOURCE_TYPE_ENTRY, epoch=EPOCH, seq=1))
        with self.assertRaisesRegex(tc.MalformedBatch, "location_uuid must be a lowercase"):
            self.store.apply_batch(B, batch)
        entry.location_uuid = content
        batch.records[0].entry.CopyFrom(entry)
        self.store.apply_batch(B, batch)
        self.assertEqual(self.store.counts(T.RESOURCE_TYPE_ENTRY), (1, 0))

    def test_digest_is_order_independent_and_counts_duplicates(self):
        one, two = tc.Digest(), tc.Digest()
        one.add("r", TAG, "0000000000640000", A)
        one.add("t", A, "0000000000c80000", B)
        two.add("t", A, "0000000000c80000", B)
        two.add("r", TAG, "0000000000640000", A)
        self.assertEqual(one.hash, two.hash)
        self.assertEqual(len(one.hash), 32)
        two.add("r", TAG, "0000000000640000", A)
        self.assertNotEqual(one.hash, two.hash)


# ----------------------------------------------------------------------------------------------
# Against a real node
# ----------------------------------------------------------------------------------------------


class RetryPolicyTest(unittest.TestCase):
    """_sync_with_retries against a client whose sync fails as a node over its limits answers."""

    class Refused(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

        def details(self):
            return "refused"

    class Client:
        def __init__(self, failures):
            self.failures = list(failures)
            self.stopping = False

        def sync(self, *_, **__):
            if self.failures:
                raise RetryPolicyTest.Refused(self.failures.pop(0))
            return {"applied": 0}

    def waits(self, code) -> list:
        events = []
        args = argparse.Namespace(types=None, follow=False, max_batches=None, origin_filter=True, retries=5)
        with mock.patch.object(tc.time, "sleep"):
            tc._sync_with_retries(self.Client([code, code]), args, events.append)
        return [event["in_seconds"] for event in events if event["event"] == "retry"]

    def test_resource_exhausted_waits_a_few_seconds_and_unavailable_starts_short(self):
        self.assertEqual(self.waits(grpc.StatusCode.RESOURCE_EXHAUSTED), [5.0, 10.0])
        self.assertEqual(self.waits(grpc.StatusCode.UNAVAILABLE), [0.5, 1.0])


class Lines:
    """Drains a pipe on a thread so the child never blocks on a full pipe; lines go to a queue."""

    def __init__(self, pipe):
        self.queue: "queue.Queue[str]" = queue.Queue()
        self.all: list[str] = []
        self.pipe = pipe
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        for line in pipe:
            self.all.append(line)
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout: float):
        return self.queue.get(timeout=timeout)

    def close(self):
        """After the child exited: the reader reaches end of file, then the pipe is closed."""
        self.thread.join(timeout=10)
        self.pipe.close()


class Node:
    """A library with generated data, served by `tidemark node` (on a free port by default)."""

    def __init__(self, entries: int = ENTRIES, volumes: int = VOLUMES, locations: int = LOCATIONS):
        self.dir = tempfile.TemporaryDirectory(prefix="tidemark-pyclient-")
        self.library = os.path.join(self.dir.name, "library")
        init = json.loads(self.cli("init", "--library", self.library, "--json"))
        self.library_id, self.device_id, self.epoch = init["libraryId"], init["deviceId"], init["epoch"]
        self.generate(volumes, locations, entries)
        self.start("127.0.0.1:0")

    def generate(self, volumes: int, locations: int, entries: int, seed: int = 1) -> None:
        self.cli("generate", "--library", self.library, "--volumes", str(volumes), "--locations", str(locations),
                 "--entries", str(entries), "--seed", str(seed))

    def start(self, listen: str) -> None:
        self.process = subprocess.Popen(
            CLI + ["node", "--library", self.library, "--listen", listen, "--insecure"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.log = Lines(self.process.stdout)
        self.address = None
        deadline = time.time() + 60
        while self.address is None:
            line = self.log.next(timeout=max(0.1, deadline - time.time()))
            if line is None:
                raise RuntimeError("tidemark node exited:\n" + "".join(self.log.all))
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("msg") == "listening":
                self.address = event["address"]
        self.channel = grpc.insecure_channel(self.address, options=tc.CHANNEL_OPTIONS)
        self.stub = tc.sync_pb2_grpc.SyncServiceStub(self.channel)

    def stop(self) -> int:
        """SIGTERM, the graceful shutdown; returns the exit code."""
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.close()
        return code

    @staticmethod
    def cli(*args: str) -> str:
        done = subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"tidemark {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def digests(self) -> dict[int, sync_pb2.ResourceDigest]:
        response = self.stub.Digest(sync_pb2.DigestRequest(library_id=self.library_id))
        return {d.resource_type: d for d in response.digests}

    def close(self):
        self.stop()
        self.dir.cleanup()


NODE: Node | None = None


def node() -> Node:
    global NODE
    if NODE is None:
        NODE = Node()
    return NODE


def tearDownModule():
    if NODE is not None:
        NODE.close()


def run_client(db: str, *args: str, timeout: float = 300) -> tuple[dict, list[dict]]:
    """Runs the client CLI to completion; returns (stats printed on stdout, events)."""
    n = node()
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "tidemark_client.py"), "--address", n.address,
         "--library-id", n.library_id, "--db", db, "--json", *args],
        capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"client exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), [json.loads(line) for line in done.stderr.splitlines()]


def forge_cursor_epochs(db_file: str) -> None:
    db = sqlite3.connect(db_file)
    with db:
        db.execute("UPDATE cursors SET epoch = ?", (OTHER_EPOCH,))
    db.close()


def wait_until_equal(test: unittest.TestCase, store: tc.Store, n: Node, seconds: float = 30,
                     events: "Lines | None" = None) -> None:
    """Polls until every type's counts and hash in `store` equal the node's digests."""
    deadline = time.time() + seconds
    while True:
        remote = n.digests()
        differ = {t: ((*store.counts(t), store.digest(t)),
                      (remote[t].row_count, remote[t].tombstone_count, remote[t].hash))
                  for t in tc.RESOURCE_TYPES}
        differ = {t: pair for t, pair in differ.items() if pair[0] != pair[1]}
        if not differ:
            return
        if time.time() >= deadline:
            # Everything needed to tell a lost wake-up from a wrong apply: which types differ, what
            # the client last said, and what the node logged.
            lines = [f"the client did not converge within {seconds} s; (rows, tombstones, hash) client vs node:"]
            lines += [f"  type {t}: {mine} vs {theirs}" for t, (mine, theirs) in differ.items()]
            if events is not None:
                lines += ["client events (last 20):", *("  " + e.rstrip() for e in events.all[-20:])]
            lines += ["node log (last 20):", *("  " + e.rstrip() for e in n.log.all[-20:])]
            test.fail("\n".join(lines))
        time.sleep(0.2)


def start_follower(n: Node, db: str, *args: str) -> tuple[subprocess.Popen, Lines]:
    """Starts `tidemark_client.py sync --follow` and waits until every type has caught up."""
    child = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "tidemark_client.py"), "--address", n.address,
         "--library-id", n.library_id, "--db", db, "--json", "sync", "--follow", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    events = Lines(child.stderr)
    caught_up = set()
    while len(caught_up) < 8:
        line = events.next(timeout=120)
        if line is None:
            raise AssertionError("follow client ended early:\n" + "".join(events.all))
        event = json.loads(line)
        if event["event"] == "batch" and event["caught_up"]:
            caught_up.add(event["type"])
    return child, events


def finish(child: subprocess.Popen, events: Lines) -> str:
    """Waits for a client started with stdout and stderr pipes; returns its stdout."""
    child.wait(timeout=20)
    out = child.stdout.read()
    child.stdout.close()
    events.close()
    return out


class NodeTestCase(unittest.TestCase):
    def setUp(self):
        self.node = node()
        self.dir = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.dir.name, "copy.db")

    def tearDown(self):
        self.dir.cleanup()

    def client(self, batch_size: int = 0) -> tc.Client:
        store = tc.Store(self.db, self.node.library_id)
        client = tc.Client(self.node.address, self.node.library_id, store, batch_size)
        self.addCleanup(store.close)
        self.addCleanup(client.close)
        return client

    def assert_same_as_node(self):
        """Row counts, tombstone counts and hashes of every type equal the node's Digest RPC."""
        store = tc.Store(self.db, self.node.library_id)
        try:
            remote = self.node.digests()
            self.assertEqual(sorted(remote), sorted(tc.RESOURCE_TYPES))
            for t in tc.RESOURCE_TYPES:
                self.assertEqual(
                    (*store.counts(t), store.digest(t).hex()),
                    (remote[t].row_count, remote[t].tombstone_count, remote[t].hash.hex()),
                    f"{tc.NAMES[t]} differs from the node",
                )
            return {tc.NAMES[t]: remote[t].row_count for t in tc.RESOURCE_TYPES}
        finally:
            store.close()


class BackfillTest(NodeTestCase):
    def test_killed_backfill_resumes_from_its_cursors_and_matches_the_node(self):
        script = os.path.join(HERE, "tidemark_client.py")
        child = subprocess.Popen(
            [sys.executable, script, "--address", self.node.address, "--library-id", self.node.library_id,
             "--db", self.db, "--json", "sync", "--batch-size", "200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        events = Lines(child.stderr)
        entry_batches = 0
        while entry_batches < 5:
            line = events.next(timeout=60)
            self.assertIsNotNone(line, "client ended before it could be killed")
            event = json.loads(line)
            entry_batches += event.get("event") == "batch" and event["type"] == "entry"
        child.send_signal(signal.SIGKILL)  # no chance to clean up: mid-batch, mid-transaction
        child.wait()
        events.close()

        store = tc.Store(self.db, self.node.library_id)
        entries_before = store.counts(T.RESOURCE_TYPE_ENTRY)[0]
        entry_cursor = store.cursor(self.node.device_id, T.RESOURCE_TYPE_ENTRY)
        volumes = store.counts(T.RESOURCE_TYPE_VOLUME)[0]
        locations = store.counts(T.RESOURCE_TYPE_LOCATION)[0]
        store.close()
        self.assertTrue(1000 <= entries_before < ENTRIES, entries_before)
        self.assertEqual((volumes, locations), (VOLUMES, LOCATIONS), "older types were backfilled first")
        self.assertEqual(entry_cursor.epoch, self.node.epoch)
        self.assertRegex(entry_cursor.commit_id, "^[0-9a-f]{32}$", "the checkpoint's commit id is kept to send back")

        stats, events = run_client(self.db, "sync", "--batch-size", "200")
        starts = {e["type"]: e for e in events if e["event"] == "start"}
        self.assertEqual(starts["entry"]["seq"], entry_cursor.seq, "resumed from the stored cursor")
        # Rows and cursor committed together, so exactly the missing entries were sent, once.
        self.assertEqual(stats["entry"]["received"], ENTRIES - entries_before)
        self.assertEqual(stats["entry"]["written"], ENTRIES - entries_before)
        self.assertEqual(stats["location"]["written"], 0)
        counts = self.assert_same_as_node()
        self.assertEqual((counts["entry"], counts["location"], counts["volume"]), (ENTRIES, LOCATIONS, VOLUMES))

        # The CLI's verify agrees, and a second sync has nothing left to send.
        stats, _ = run_client(self.db, "sync")
        self.assertEqual(sum(s["received"] for s in stats.values()), 0)
        done = subprocess.run([sys.executable, script, "--address", self.node.address, "--library-id",
                               self.node.library_id, "--db", self.db, "verify"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        print(f"\n  killed after {entries_before} of {ENTRIES} entries; resumed at seq {entry_cursor.seq}; "
              f"counts {counts}; all digests equal", file=sys.stderr)

    def test_stopped_stream_resumes_in_process_and_types_arrive_in_dependency_order(self):
        client = self.client(batch_size=max(1, ENTRIES // 10))
        seen = []
        client.sync(max_batches=8, on_event=lambda e: seen.append(e))  # 5 small types, 3 entry batches
        stored = client.store.counts(T.RESOURCE_TYPE_ENTRY)[0]
        self.assertTrue(0 < stored < ENTRIES)
        client.sync(on_event=lambda e: seen.append(e))
        rank = tc.RESOURCE_TYPES.index
        order = [rank(tc.resource_type(e["type"])) for e in seen if e["event"] == "batch"]
        second = order[8:]
        self.assertEqual(order[:8], sorted(order[:8]))
        self.assertEqual(second, sorted(second))
        self.assertTrue(all(e["written"] == e["records"] + e["tombstones"] for e in seen if e["event"] == "batch"))
        self.assert_same_as_node()

    def test_epoch_change_seen_at_handshake_restarts_every_type_from_zero(self):
        client = self.client(batch_size=5000)
        client.sync()
        forge_cursor_epochs(self.db)  # as if the node's database had been recreated
        events = []
        stats = client.sync(on_event=events.append)
        self.assertEqual(len([e for e in events if e["event"] == "epoch_changed"]), len(tc.RESOURCE_TYPES))
        self.assertTrue(all(e["seq"] == 0 and e["epoch"] == "" for e in events if e["event"] == "start"))
        self.assertEqual(stats["entry"]["received"], ENTRIES)
        self.assertEqual(sum(s["written"] for s in stats.values()), 0, "re-applying is idempotent")
        self.assertEqual(client.store.cursor(self.node.device_id, T.RESOURCE_TYPE_ENTRY).epoch, self.node.epoch)
        self.assert_same_as_node()

    def test_held_prefixes_leave_rows_out_and_a_v1_request_still_gets_every_row(self):
        client = self.client(batch_size=5000)
        first = client.sync(origin_filter=True)
        self.assertEqual(first["entry"]["held_skipped"], 0, "nothing was held yet")
        # The node's caught-up checkpoints covered its own lineage up to its head.
        self.assertTrue(any(p.origin == self.node.device_id for p in client.store.held(T.RESOURCE_TYPE_ENTRY)))
        for t in tc.RESOURCE_TYPES:
            client.store.reset_cursor(self.node.device_id, t)
        # v1: no held prefixes sent, so every row comes again (and changes nothing).
        plain = client.sync()
        self.assertEqual((plain["entry"]["received"], plain["entry"]["held_skipped"]), (ENTRIES, 0))
        for t in tc.RESOURCE_TYPES:
            client.store.reset_cursor(self.node.device_id, t)
        # With them, the node leaves out everything of its lineage this copy holds.
        filtered = client.sync(origin_filter=True)
        self.assertEqual((filtered["entry"]["received"], filtered["entry"]["held_skipped"]), (0, ENTRIES))
        self.assertEqual(client.store.cursor(self.node.device_id, T.RESOURCE_TYPE_ENTRY).epoch, self.node.epoch)
        self.assert_same_as_node()

    def test_foreign_epoch_cursor_gets_a_reset_batch_that_the_store_adopts(self):
        client = self.client()
        client.sync(types=[T.RESOURCE_TYPE_VOLUME])
        seq = client.store.cursor(self.node.device_id, T.RESOURCE_TYPE_VOLUME).seq
        forge_cursor_epochs(self.db)
        cursor = sync_pb2.Cursor(resource_type=T.RESOURCE_TYPE_VOLUME, epoch=OTHER_EPOCH, seq=seq)
        batches = list(self.node.stub.StreamState(sync_pb2.StateRequest(library_id=self.node.library_id,
                                                                         cursors=[cursor])))
        self.assertTrue(batches[0].reset)
        self.assertFalse(any(b.reset for b in batches[1:]))
        self.assertEqual(batches[0].checkpoint.epoch, self.node.epoch)
        self.assertEqual(sum(len(b.records) for b in batches), VOLUMES, "restarted from 0, not from seq")
        self.assertTrue(batches[-1].caught_up)
        for batch in batches:
            client.store.apply_batch(self.node.device_id, batch)
        self.assertEqual(client.store.cursor(self.node.device_id, T.RESOURCE_TYPE_VOLUME),
                         tc.Cursor(self.node.epoch, seq, batches[-1].checkpoint.commit_id))


MUTATE_JS = r"""
const { Library } = require(process.env.TIDEMARK_ENGINE);
(async () => {
  const [file, tag, doomedTag, content, assignment, collection, ...entries] = process.argv.slice(2);
  const library = await Library.open(file);
  await library.write(async (tx) => {
    for (const uuid of entries) await tx.delete('entry', uuid);
    await tx.put('tag', { uuid: tag, name: 'holiday', color: '#ff8800' });
    await tx.put('tag', { uuid: doomedTag, name: 'doomed', color: '' });
    await tx.put('content_identity', {
      uuid: content, contentHash: 'ab'.repeat(32), sizeBytes: 42, mimeType: 'text/plain',
    });
    await tx.put('tag_assignment', { uuid: assignment, tagUuid: tag, contentUuid: content });
    await tx.put('collection', { uuid: collection, name: 'Favourites', description: 'from the test' });
  });
  await library.write(async (tx) => {
    await tx.put('tag', { uuid: tag, name: 'holidays', color: '#ff8800' });
    await tx.delete('tag', doomedTag);
  });
  await library.close();
})().catch((error) => { console.error(error); process.exit(1); });
"""


class FollowTest(NodeTestCase):
    def test_follow_applies_live_changes_and_deletes_from_another_process(self):
        child, events = start_follower(self.node, self.db)

        store = tc.Store(self.db, self.node.library_id)
        self.addCleanup(store.close)
        doomed = [e.uuid for e in store.records(T.RESOURCE_TYPE_ENTRY)][:50]
        ids = [str(uuidlib.uuid4()) for _ in range(5)]
        script = os.path.join(self.dir.name, "mutate.js")
        with open(script, "w") as f:
            f.write(MUTATE_JS)
        subprocess.run(["node", script, os.path.join(self.node.library, "library.db"), *ids, *doomed], check=True,
                       env={**os.environ, "TIDEMARK_ENGINE": os.path.join(ROOT, "packages", "engine")}, timeout=60)

        # The node sees the other process's commits (poll fallback) and streams them to the client.
        wait_until_equal(self, store, self.node, events=events)
        self.assertEqual(store.counts(T.RESOURCE_TYPE_ENTRY), (ENTRIES - 50, 50))
        self.assertEqual(store.counts(T.RESOURCE_TYPE_TAG), (1, 1))
        self.assertEqual([t.name for t in store.records(T.RESOURCE_TYPE_TAG)], ["holidays"])
        self.assertEqual([a.tag_uuid for a in store.records(T.RESOURCE_TYPE_TAG_ASSIGNMENT)], [ids[0]])

        child.send_signal(signal.SIGTERM)  # graceful: finishes the batch in flight, prints stats
        out = finish(child, events)
        self.assertEqual(child.returncode, 0)
        self.assertGreaterEqual(json.loads(out)["tag"]["written"], 2)  # the newest tag and a tombstone
        self.assert_same_as_node()


class RestartTest(NodeTestCase):
    def test_follower_retries_while_the_node_restarts_and_catches_up(self):
        n = Node(entries=300, volumes=1, locations=2)  # a node of its own: this test stops it
        self.addCleanup(n.close)
        child, events = start_follower(n, self.db, "--retries", "30")
        port = n.address.rsplit(":", 1)[1]
        self.assertEqual(n.stop(), 0)
        retry = None
        while retry is None:  # the open stream ends with UNAVAILABLE, so the client retries
            line = events.next(timeout=30)
            self.assertIsNotNone(line, "client gave up:\n" + "".join(events.all))
            event = json.loads(line)
            retry = event if event["event"] == "retry" else None
        self.assertIn("shutting down", retry["error"])
        n.generate(volumes=1, locations=1, entries=200, seed=2)  # written while nobody serves
        n.start(f"127.0.0.1:{port}")
        store = tc.Store(self.db, n.library_id)
        self.addCleanup(store.close)
        wait_until_equal(self, store, n, events=events)
        self.assertEqual(store.counts(T.RESOURCE_TYPE_ENTRY), (500, 0))
        child.send_signal(signal.SIGTERM)
        finish(child, events)
        self.assertEqual(child.returncode, 0)


class ContractTest(NodeTestCase):
    def code(self, call) -> grpc.StatusCode:
        with self.assertRaises(grpc.RpcError) as caught:
            result = call()
            if not isinstance(result, message.Message):  # a stream fails when it is read
                list(result)
        return caught.exception.code()

    def state(self, *cursors, **fields):
        request = sync_pb2.StateRequest(library_id=self.node.library_id, cursors=cursors, **fields)
        return self.node.stub.StreamState(request)

    def test_handshake_reports_identity_heads_and_batch_limits(self):
        hello = self.node.stub.Handshake(sync_pb2.HandshakeRequest(library_id=self.node.library_id))
        self.assertEqual((hello.library_id, hello.device_id, hello.epoch),
                         (self.node.library_id, self.node.device_id, self.node.epoch))
        self.assertEqual(hello.protocol_version, sync_pb2.PROTOCOL_VERSION_1)
        self.assertEqual((hello.default_batch_size, hello.max_batch_size), (1000, 10000))
        self.assertEqual([h.resource_type for h in hello.heads], tc.RESOURCE_TYPES)
        digests = self.node.digests()
        for h in hello.heads:
            self.assertEqual((h.row_count, h.tombstone_count), (digests[h.resource_type].row_count,
                                                                digests[h.resource_type].tombstone_count))

    def test_types_of_a_later_v1_release_are_skipped_not_a_crash(self):
        # New ResourceType values are additive within v1 (docs/protocol.md: "Skip unknown enum
        # values"): a node's Handshake heads and Digest may name one this client does not know.
        unknown = max(tc.RESOURCE_TYPES) + 7
        client = self.client()
        real = client.stub

        class NewerNode:
            def Handshake(self, request):
                hello = real.Handshake(request)
                hello.heads.add(resource_type=unknown, seq=1)
                return hello

            def Digest(self, request):
                answer = real.Digest(request)
                answer.digests.add(resource_type=unknown, row_count=1)
                return answer

            def __getattr__(self, name):
                return getattr(real, name)

        client.stub = NewerNode()
        events = []
        client.handshake(events.append)
        heads = next(e for e in events if e["event"] == "handshake")["heads"]
        self.assertEqual(sorted(heads), sorted(tc.NAMES.values()))
        self.assertEqual([r["type"] for r in client.verify()], [tc.NAMES[t] for t in tc.RESOURCE_TYPES])

    def test_handshake_carries_the_clocks_and_works_without_them(self):
        # Sent without sent_at_ms, as a client that predates it does: answered as before, with the
        # node's time.
        before = time.time() * 1000
        hello = self.node.stub.Handshake(sync_pb2.HandshakeRequest(library_id=self.node.library_id))
        self.assertEqual(hello.device_id, self.node.device_id)
        self.assertLessEqual(abs(hello.server_time_ms - before), 5_000)
        # The client sends its time and estimates the node's offset: one machine, one clock.
        events = []
        self.client().handshake(events.append)
        handshake = next(e for e in events if e["event"] == "handshake")
        self.assertLess(abs(handshake["clock_offset_ms"]), 1_000)
        self.assertGreaterEqual(handshake["round_trip_ms"], 0)

    def test_bad_input_gets_the_documented_status(self):
        stub, lib, other = self.node.stub, self.node.library_id, str(uuidlib.uuid4())
        entry = sync_pb2.Cursor(resource_type=T.RESOURCE_TYPE_ENTRY)
        PD, IA, FP = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT,
                      grpc.StatusCode.FAILED_PRECONDITION)
        cases = {
            "handshake, other library": (lambda: stub.Handshake(sync_pb2.HandshakeRequest(library_id=other)), PD),
            "stream, other library": (lambda: stub.StreamState(sync_pb2.StateRequest(library_id=other,
                                                                                     cursors=[entry])), PD),
            "digest, other library": (lambda: stub.Digest(sync_pb2.DigestRequest(library_id=other)), PD),
            "handshake, malformed library id": (lambda: stub.Handshake(sync_pb2.HandshakeRequest(
                library_id="not-a-uuid")), IA),
            "stream, malformed device id": (lambda: stub.StreamState(sync_pb2.StateRequest(
                library_id=lib, device_id="NOPE", cursors=[entry])), IA),
            "handshake, version 2": (lambda: stub.Handshake(sync_pb2.HandshakeRequest(
                library_id=lib, protocol_version=2)), FP),
            "stream, no cursors": (lambda: self.state(), IA),
            "stream, unspecified type": (lambda: self.state(sync_pb2.Cursor()), IA),
            "stream, unknown type 99": (lambda: self.state(sync_pb2.Cursor(resource_type=99)), IA),
            "stream, type twice": (lambda: self.state(entry, entry), IA),
            "stream, held prefix not a uuid": (lambda: self.state(sync_pb2.Cursor(
                resource_type=T.RESOURCE_TYPE_ENTRY, held=[sync_pb2.OriginPrefix(origin="x", epoch="y")])), IA),
            "digest, unknown type 99": (lambda: stub.Digest(sync_pb2.DigestRequest(library_id=lib,
                                                                                    resource_types=[99])), IA),
            "digest, malformed exclude_origins": (lambda: stub.Digest(sync_pb2.DigestRequest(
                library_id=lib, exclude_origins=["nope"])), IA),
        }
        for name, (call, expected) in cases.items():
            with self.subTest(name):
                self.assertEqual(self.code(call), expected)

    def test_batch_size_zero_is_the_default_and_large_is_clamped(self):
        entry = sync_pb2.Cursor(resource_type=T.RESOURCE_TYPE_ENTRY)
        for asked, served in ((0, 1000), (50_000, 10_000), (7, 7)):
            if served >= ENTRIES:
                continue  # needs more entries than one batch holds
            with self.subTest(asked=asked):
                call = self.state(entry, batch_size=asked)
                first = next(call)
                call.cancel()
                self.assertEqual(len(first.records) + len(first.tombstones), served)
                self.assertFalse(first.caught_up)

    def test_every_type_ends_with_a_caught_up_batch(self):
        cursors = [sync_pb2.Cursor(resource_type=t) for t in (T.RESOURCE_TYPE_TAG, T.RESOURCE_TYPE_DEVICE)]
        batches = list(self.state(*cursors, batch_size=10_000))
        self.assertEqual([b.resource_type for b in batches][0], T.RESOURCE_TYPE_TAG, "request order is kept")
        for t in (T.RESOURCE_TYPE_TAG, T.RESOURCE_TYPE_DEVICE):
            last = [b for b in batches if b.resource_type == t][-1]
            self.assertTrue(last.caught_up and last.remaining == 0 and last.checkpoint.epoch == self.node.epoch)

    def test_reflection_lists_services_and_describes_state_request(self):
        from grpc_reflection_v1 import reflection_pb2, reflection_pb2_grpc

        stub = reflection_pb2_grpc.ServerReflectionStub(self.node.channel)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol="tidemark.sync.v1.StateRequest")]
        listed, described = list(stub.ServerReflectionInfo(iter(requests)))
        services = {s.name for s in listed.list_services_response.service}
        self.assertTrue({"tidemark.sync.v1.SyncService", "grpc.health.v1.Health"} <= services, services)

        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in described.file_descriptor_response.file_descriptor_proto]
        served = contract_shape(files)
        self.assertIn("tidemark.sync.v1.StateRequest", served)
        local = contract_shape([file_proto(sync_pb2), file_proto(records_pb2)])
        # Every message, enum and service of the .proto compiled here is served identically: field
        # names, numbers, types, labels and oneofs (file layout aside: @grpc/reflection serves one
        # file per package).
        for name in sorted(local):
            with self.subTest(symbol=name):
                self.assertEqual(served.get(name), local[name])


def file_proto(module) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def contract_shape(files) -> dict:
    """What a client depends on, by fully qualified name; type names reduced to their last part."""
    shape = {}
    for f in files:
        for m in f.message_type:
            shape[f"{f.package}.{m.name}"] = sorted(
                (fl.name, fl.number, fl.type, fl.label, fl.type_name.rsplit(".", 1)[-1],
                 m.oneof_decl[fl.oneof_index].name if fl.HasField("oneof_index") else "")
                for fl in m.field)
        for e in f.enum_type:
            shape[f"{f.package}.{e.name}"] = sorted((v.name, v.number) for v in e.value)
        for svc in f.service:
            shape[f"{f.package}.{svc.name}"] = sorted(
                (md.name, md.input_type.rsplit(".", 1)[-1], md.output_type.rsplit(".", 1)[-1],
                 md.client_streaming, md.server_streaming) for md in svc.method)
    return shape


class HostileServerTest(unittest.TestCase):
    """The client against a real gRPC server on 127.0.0.1 that sends a batch the docs call
    malformed ("Origin prefixes": an `origin_epochs` entry that is not a UUID)."""

    def test_an_origin_epoch_that_is_not_a_uuid_rejects_the_batch(self):
        from concurrent import futures
        from tidemark.sync.v1 import sync_pb2_grpc

        library, device = "11111111-0000-4000-8000-000000000000", A

        class Servicer(sync_pb2_grpc.SyncServiceServicer):
            def Handshake(self, request, context):
                return sync_pb2.HandshakeResponse(library_id=library, device_id=device, epoch=EPOCH,
                                                  protocol_version=sync_pb2.PROTOCOL_VERSION_1)

            def StreamState(self, request, context):
                batch = tag_batch(3, rows=[("t", 1000, B)])
                batch.caught_up = True
                batch.record_origin_seqs.append(1)
                batch.record_origin_epochs.append(1)
                batch.origin_epochs.append("not-a-uuid")
                yield batch

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        sync_pb2_grpc.add_SyncServiceServicer_to_server(Servicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        with tempfile.TemporaryDirectory() as d:
            store = tc.Store(os.path.join(d, "c.db"), library)
            client = tc.Client(f"127.0.0.1:{port}", library, store)
            try:
                with self.assertRaises(tc.MalformedBatch):
                    client.sync([T.RESOURCE_TYPE_TAG])
                self.assertEqual(store.counts(T.RESOURCE_TYPE_TAG), (0, 0))
                self.assertEqual(store.cursor(device, T.RESOURCE_TYPE_TAG), tc.Cursor())
            finally:
                client.close()
                store.close()
                server.stop(0)


def main() -> int:
    if not os.path.exists(os.path.join(ROOT, "packages", "cli", "dist", "main.js")):
        print("test_client: build the repository first (npx nx run-many -t build)", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    # A failed subTest is reported on its own; count each test once.
    broken = {getattr(test, "test_case", test).id() for test, _ in result.failures + result.errors}
    failed = len(broken) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
