"""A small Python client for the Tidemark sync protocol (tidemark.sync.v1).

It pulls a library from one Tidemark node into a local SQLite file and can check itself against
the node's digests. It is written from packages/proto and docs/protocol.md alone; copy it.

    python3 tidemark_client.py --address 127.0.0.1:7400 --library-id UUID --db copy.db sync
    python3 tidemark_client.py --address 127.0.0.1:7400 --library-id UUID --db copy.db verify

Run ./generate.sh first: it writes the protobuf/gRPC stubs into ./gen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sqlite3
import struct
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
try:
    import grpc
    from tidemark.sync.v1 import records_pb2, sync_pb2, sync_pb2_grpc
except ImportError as error:  # pragma: no cover - a setup problem, not a bug
    sys.exit(f"tidemark_client: {error}; install python3-grpcio and python3-protobuf, then run ./generate.sh")

# Dependency order (docs/protocol.md): membership first, so that the membership authorizing the
# rows after it always arrives before them; then the numeric order of the ResourceType enum.
RESOURCE_TYPES = sorted(
    (v.number for v in sync_pb2.ResourceType.DESCRIPTOR.values if v.number > 0),
    key=lambda t: (t != sync_pb2.RESOURCE_TYPE_MEMBERSHIP, t),
)
# What docs/protocol.md ("What to do with each status") says to retry with backoff.
RETRIED_STATUSES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
})
# The least wait before retrying a RESOURCE_EXHAUSTED (too many streams or digests of this caller).
RESOURCE_EXHAUSTED_BACKOFF_S = 5.0
# "RESOURCE_TYPE_CONTENT_IDENTITY" -> "content_identity", which is also the Record oneof field.
NAMES = {t: sync_pb2.ResourceType.Name(t).removeprefix("RESOURCE_TYPE_").lower() for t in RESOURCE_TYPES}
# Device-owned types: the record's owner field must equal its origin. A membership change's origin
# is its signer. (This client stores membership changes as data: it pulls from one node it trusts,
# so it does not verify their signatures; a node does, see docs/protocol.md, "Membership".)
OWNER_FIELD = {"device": "uuid", "volume": "device_uuid", "location": "device_uuid", "entry": "device_uuid",
               "membership": "signer"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# References that must be UUIDs (docs/protocol.md, "Applying a batch"); every other `*_uuid` may
# also be empty. proto3 leaves an empty string out of ListFields(), so these are named here.
REQUIRED_UUIDS = {"volume": ("device_uuid",), "location": ("device_uuid",),
                  "entry": ("device_uuid", "location_uuid"), "tag_assignment": ("tag_uuid", "content_uuid"),
                  "membership": ("subject", "signer")}
COMMIT_ID = re.compile(r"^[0-9a-f]{32}$")
CHANNEL_OPTIONS = [
    # Nodes end a batch before it could pass 16 MiB; gRPC's default 4 MiB is too small for that,
    # and 20 MiB (what a node's own client reads at most) keeps a hostile peer from pushing more.
    ("grpc.max_receive_message_length", 20 * 1024 * 1024),
    # Notice a node that vanished without closing the connection (a follow stream is silent).
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Come back quickly when a node restarts.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 10_000),
]


class MalformedBatch(Exception):
    """A batch broke the contract. Nothing of it was written and the cursor did not move."""


def encode_hlc(hlc: records_pb2.Hlc) -> str:
    """16 lowercase hex digits: 12 of physical_ms, then 4 of logical. String order is HLC order."""
    return f"{hlc.physical_ms:012x}{hlc.logical:04x}"


def clock_offset(sent_ms: float, received_ms: float, server_ms: int) -> Optional[tuple[int, int]]:
    """The node's clock minus ours, NTP style, and the round trip that bounds its error (half of
    it): `server_time_ms` was read while answering, so it is compared with the midpoint of our
    send and receive times. None when the node sent no time (it predates the field)."""
    if server_ms <= 0:
        return None
    return round(server_ms - (sent_ms + received_ms) / 2), round(received_ms - sent_ms)


def resource_type(name: str) -> int:
    """"entry" or "content-identity" -> the enum value."""
    wanted = name.strip().lower().replace("-", "_")
    for t, n in NAMES.items():
        if n == wanted:
            return t
    raise ValueError(f"unknown resource type {name!r}; expected one of {', '.join(NAMES.values())}")


class Digest:
    """Order-independent hash: lane-wise sum mod 2^64 of SHA-256("<kind>|uuid|hlc|origin")."""

    def __init__(self) -> None:
        self.lanes = [0, 0, 0, 0]

    def add(self, kind: str, uuid: str, hlc: str, origin: str) -> None:
        digest = hashlib.sha256(f"{kind}|{uuid}|{hlc}|{origin}".encode()).digest()
        for i, lane in enumerate(struct.unpack(">4Q", digest)):  # four big-endian uint64 lanes
            self.lanes[i] = (self.lanes[i] + lane) & 0xFFFF_FFFF_FFFF_FFFF

    @property
    def hash(self) -> bytes:
        return struct.pack(">4Q", *self.lanes)


@dataclass
class Cursor:
    epoch: str = ""  # epoch of the serving database; "" = no cursor yet
    seq: int = 0  # last change-sequence number applied from it
    commit_id: str = ""  # the checkpoint's commit_id: tells a restored server's new history apart


@dataclass
class Item:
    """A record or a tombstone, reduced to what last-writer-wins needs."""

    uuid: str
    hlc: str
    origin: str
    record: Optional[bytes]  # the serialized Record; None for a tombstone


def _check_hlc(hlc, where: str) -> str:
    if not (0 < hlc.physical_ms < 2**48) or hlc.logical > 0xFFFF:
        raise MalformedBatch(f"{where}: hlc ({hlc.physical_ms}, {hlc.logical}) is out of range")
    return encode_hlc(hlc)


# The limits of records.proto (docs/protocol.md, "Limits") that a node enforces on every batch.
NAME_FIELDS = frozenset({
    ("device", "name"), ("device", "os"), ("volume", "name"), ("volume", "filesystem"),
    ("location", "name"), ("content_identity", "mime_type"), ("tag", "color"), ("membership", "name"),
    ("tag", "name"), ("collection", "name"),
})
PATH_FIELDS = frozenset({("volume", "mount_point"), ("location", "path"), ("entry", "relative_path")})
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _check_fields(name: str, row, where: str) -> None:
    """The string limits of records.proto; `*_uuid` references are UUIDs, or empty where optional."""
    for field in REQUIRED_UUIDS.get(name, ()):
        if not UUID.match(getattr(row, field)):
            raise MalformedBatch(f"{where}: {field} must be a lowercase hyphenated UUID (got {getattr(row, field)!r})")
    for field, value in row.ListFields():
        if field.type == field.TYPE_BYTES and len(value) > 4096:
            raise MalformedBatch(f"{where}: {field.name} is longer than 4096 bytes")
        if field.type != field.TYPE_STRING:
            continue
        if len(value.encode()) > 4096:
            raise MalformedBatch(f"{where}: {field.name} is longer than 4096 bytes")
        if "\0" in value:
            raise MalformedBatch(f"{where}: {field.name} holds NUL (U+0000)")
        if field.name.endswith("_uuid") and not UUID.match(value):
            raise MalformedBatch(f"{where}: {field.name} must be empty or a lowercase hyphenated UUID")
        if (name, field.name) in NAME_FIELDS and len(value.encode()) > 256:
            raise MalformedBatch(f"{where}: {field.name} is longer than 256 bytes")
        if ((name, field.name) in NAME_FIELDS or (name, field.name) in PATH_FIELDS) and CONTROL.search(value):
            raise MalformedBatch(f"{where}: {field.name} holds a control character")
    if name in ("tag", "collection") and not 0 < len(row.name.encode()) <= 256:
        raise MalformedBatch(f"{where}: name must be 1 to 256 bytes")
    if name == "content_identity" and len(row.content_hash) > 128:
        raise MalformedBatch(f"{where}: content_hash is longer than 128 characters")
    if name == "entry" and row.kind == records_pb2.ENTRY_KIND_UNSPECIFIED:
        raise MalformedBatch(f"{where}: kind is ENTRY_KIND_UNSPECIFIED")


def parse_batch(batch: sync_pb2.StateBatch) -> list[Item]:
    """Checks the whole batch before anything is written: one bad item rejects all of it."""
    name = NAMES.get(batch.resource_type)
    if name is None:
        raise MalformedBatch(f"unknown resource type {batch.resource_type}")
    cp = batch.checkpoint
    if not batch.HasField("checkpoint") or cp.resource_type != batch.resource_type or not cp.epoch:
        raise MalformedBatch(f"{name} batch has no checkpoint of its own type and epoch")
    # Origin seqs and epochs come as lists parallel to `records`: empty (an older node) or one each.
    for field in ("record_origin_seqs", "record_origin_epochs"):
        if len(getattr(batch, field)) not in (0, len(batch.records)):
            raise MalformedBatch(f"{name} batch: {field} has {len(getattr(batch, field))} entries "
                                 f"for {len(batch.records)} records")
    if any(ref > len(batch.origin_epochs) for ref in batch.record_origin_epochs):
        raise MalformedBatch(f"{name} batch: record_origin_epochs refers past origin_epochs")
    if not all(UUID.match(epoch) for epoch in batch.origin_epochs):
        raise MalformedBatch(f"{name} batch: origin_epochs must be lowercase hyphenated UUIDs")
    for prefix in cp.covered:
        if not UUID.match(prefix.origin) or not UUID.match(prefix.epoch):
            raise MalformedBatch(f"{name} batch: checkpoint.covered needs UUID origins and epochs")
    if cp.commit_id and not COMMIT_ID.match(cp.commit_id):
        raise MalformedBatch(f"{name} batch checkpoint commit_id must be empty or 32 lowercase hex digits")
    items = []
    for i, record in enumerate(batch.records):
        if record.WhichOneof("kind") != name or not record.HasField(name):
            raise MalformedBatch(f"{name} record {i} is a {record.WhichOneof('kind')}")
        row = getattr(record, name)
        if not UUID.match(row.uuid) or not UUID.match(row.origin):
            raise MalformedBatch(f"{name} record {i}: uuid and origin must be lowercase hyphenated UUIDs")
        if name in OWNER_FIELD and getattr(row, OWNER_FIELD[name]) != row.origin:
            raise MalformedBatch(f"{name} record {i}: origin {row.origin} is not the owning device")
        if not row.HasField("hlc"):
            raise MalformedBatch(f"{name} record {i}: hlc is missing")
        hlc = _check_hlc(row.hlc, f"{name} record {i}")
        _check_fields(name, row, f"{name} record {i}")
        items.append(Item(row.uuid, hlc, row.origin, record.SerializeToString()))
    for i, tomb in enumerate(batch.tombstones):
        if name == "membership":
            raise MalformedBatch(f"membership tombstone {i}: membership changes are never deleted")
        if tomb.resource_type != batch.resource_type or not UUID.match(tomb.uuid) or not UUID.match(tomb.origin):
            raise MalformedBatch(f"{name} tombstone {i}: wrong type, or uuid/origin not a UUID")
        if not tomb.HasField("hlc"):
            raise MalformedBatch(f"{name} tombstone {i}: hlc is missing")
        items.append(Item(tomb.uuid, _check_hlc(tomb.hlc, f"{name} tombstone {i}"), tomb.origin, None))
    return items


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One cursor per (serving device, resource type): the protocol's per-resource watermark.
CREATE TABLE IF NOT EXISTS cursors (
  peer_device_id TEXT NOT NULL, resource_type INTEGER NOT NULL,
  epoch TEXT NOT NULL, seq INTEGER NOT NULL,
  last_hlc TEXT, updated_at REAL NOT NULL,
  PRIMARY KEY (peer_device_id, resource_type));
-- Current rows of every type; `record` is the serialized tidemark.sync.v1.Record, kept whole so
-- fields added to the contract later survive a round trip through this client.
CREATE TABLE IF NOT EXISTS rows (
  resource_type INTEGER NOT NULL, uuid TEXT NOT NULL, hlc TEXT NOT NULL, origin TEXT NOT NULL,
  record BLOB NOT NULL, PRIMARY KEY (resource_type, uuid));
-- Deletions, kept forever so that an older version of the row never comes back.
CREATE TABLE IF NOT EXISTS tombstones (
  resource_type INTEGER NOT NULL, uuid TEXT NOT NULL, hlc TEXT NOT NULL, origin TEXT NOT NULL,
  PRIMARY KEY (resource_type, uuid));
-- Origin prefixes held (docs/protocol.md, "Origin prefixes"): every version of this type that
-- `origin` wrote in `epoch` with origin seq <= `seq` is held here, or a greater one. Taken from
-- caught-up checkpoints, sent back as Cursor.held when asked to (--origin-filter).
CREATE TABLE IF NOT EXISTS held (
  origin TEXT NOT NULL, epoch TEXT NOT NULL, resource_type INTEGER NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (origin, epoch, resource_type));
"""


class Store:
    """The local SQLite copy of one library: rows, tombstones and per-resource cursors."""

    def __init__(self, path: str, library_id: str) -> None:
        # isolation_level=None: no implicit transactions; we say BEGIN and COMMIT ourselves.
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)
        columns = [row[1] for row in self.db.execute("PRAGMA table_info(cursors)")]
        if "commit_id" not in columns:  # a store made before the field
            self.db.execute("ALTER TABLE cursors ADD COLUMN commit_id TEXT NOT NULL DEFAULT ''")
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('library_id', ?)", (library_id,))
        (stored,) = self.db.execute("SELECT value FROM meta WHERE key = 'library_id'").fetchone()
        if stored != library_id:
            raise ValueError(f"{path} holds library {stored}, not {library_id}")

    def close(self) -> None:
        self.db.close()

    def cursor(self, peer: str, rtype: int) -> Cursor:
        row = self.db.execute(
            "SELECT epoch, seq, commit_id FROM cursors WHERE peer_device_id = ? AND resource_type = ?", (peer, rtype)
        ).fetchone()
        return Cursor(*row) if row else Cursor()

    def last_hlc(self, peer: str, rtype: int) -> Optional[str]:
        """The hlc of the newest item applied from the peer's cursor on this type (hex), if any."""
        row = self.db.execute(
            "SELECT last_hlc FROM cursors WHERE peer_device_id = ? AND resource_type = ?", (peer, rtype)
        ).fetchone()
        return row[0] if row else None

    def held(self, rtype: int) -> list:
        """The origin prefixes held of one type, as Cursor.held wants them."""
        return [sync_pb2.OriginPrefix(origin=o, epoch=e, seq=s) for o, e, s in self.db.execute(
            "SELECT origin, epoch, seq FROM held WHERE resource_type = ? ORDER BY origin, epoch", (rtype,))]

    def reset_cursor(self, peer: str, rtype: int) -> None:
        """Forget the position (the rows stay: re-applying them is harmless)."""
        self.db.execute("DELETE FROM cursors WHERE peer_device_id = ? AND resource_type = ?", (peer, rtype))

    def _version(self, rtype: int, uuid: str) -> Optional[tuple[str, str, int]]:
        """(hlc, origin, 1 for a tombstone else 0): the order last-writer-wins compares in."""
        return self.db.execute(
            "SELECT hlc, origin, 0 FROM rows WHERE resource_type = ?1 AND uuid = ?2 UNION ALL "
            "SELECT hlc, origin, 1 FROM tombstones WHERE resource_type = ?1 AND uuid = ?2",
            (rtype, uuid),
        ).fetchone()  # a uuid is a row or a tombstone, never both

    def apply_batch(self, peer: str, batch: sync_pb2.StateBatch) -> tuple[int, int]:
        """Applies a batch and stores its checkpoint in ONE transaction. Returns (written, skipped)."""
        items = parse_batch(batch)
        rtype, cp = batch.resource_type, batch.checkpoint
        written = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            current = self.cursor(peer, rtype)
            if current.epoch and current.epoch != cp.epoch and not batch.reset:
                raise MalformedBatch(f"{NAMES[rtype]} batch is from epoch {cp.epoch}, cursor from {current.epoch}")
            for item in items:
                known = self._version(rtype, item.uuid)
                # Last writer wins by (hlc, origin), then a tombstone over a record (the same key
                # for both comes only from a restored device reissuing a stamp); an equal version
                # is the same write seen again.
                if known is not None and (item.hlc, item.origin, int(item.record is None)) <= tuple(known):
                    continue
                key = (rtype, item.uuid)
                if item.record is not None:
                    self.db.execute("DELETE FROM tombstones WHERE resource_type = ? AND uuid = ?", key)
                    self.db.execute(
                        "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?)", (*key, item.hlc, item.origin, item.record)
                    )
                else:
                    self.db.execute("DELETE FROM rows WHERE resource_type = ? AND uuid = ?", key)
                    self.db.execute(
                        "INSERT OR REPLACE INTO tombstones VALUES (?, ?, ?, ?)", (*key, item.hlc, item.origin)
                    )
                written += 1
            # Within one epoch a cursor never moves backwards (a resent batch is harmless).
            # The commit id travels with the seq it names.
            same_epoch = current.epoch == cp.epoch and not batch.reset
            seq, commit_id = (current.seq, current.commit_id) if same_epoch and current.seq > cp.seq else (cp.seq, cp.commit_id)
            # A batch with no items (the caught_up batch of every resumed sync) has no hlc: the
            # last one seen stays, what the Handshake's max_hlc is compared with.
            last_hlc = encode_hlc(cp.hlc) if cp.HasField("hlc") else self.last_hlc(peer, rtype) if same_epoch else None
            self.db.execute(
                "INSERT OR REPLACE INTO cursors (peer_device_id, resource_type, epoch, seq, last_hlc, updated_at, commit_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (peer, rtype, cp.epoch, seq, last_hlc, time.time(), commit_id),
            )
            # A reset in the cursor's own epoch: the server's history changed under it (restored
            # in place), so what is held of its lineage in that epoch may be of the lost history.
            # Other servers may have left rows out on its strength, below the cursors on them:
            # the type starts over from 0 on each (in its own epoch).
            if batch.reset and current.epoch == cp.epoch:
                forgotten = self.db.execute("DELETE FROM held WHERE origin = ? AND epoch = ? AND resource_type = ?",
                                            (peer, cp.epoch, rtype)).rowcount
                if forgotten:
                    self.db.execute("UPDATE cursors SET seq = 0, commit_id = '' WHERE peer_device_id != ? "
                                    "AND resource_type = ?", (peer, rtype))
            # Only a caught-up batch covers anything. This client applies every row it receives
            # (no membership rules, no device of its own), so it may take every prefix listed.
            if batch.caught_up:
                for p in cp.covered:
                    self.db.execute(
                        "INSERT INTO held VALUES (?, ?, ?, ?) ON CONFLICT (origin, epoch, resource_type) "
                        "DO UPDATE SET seq = max(seq, excluded.seq)", (p.origin, p.epoch, rtype, p.seq))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return written, len(items) - written

    def counts(self, rtype: int) -> tuple[int, int]:
        rows = self.db.execute("SELECT count(*) FROM rows WHERE resource_type = ?", (rtype,)).fetchone()[0]
        tombs = self.db.execute("SELECT count(*) FROM tombstones WHERE resource_type = ?", (rtype,)).fetchone()[0]
        return rows, tombs

    def digest(self, rtype: int) -> bytes:
        acc = Digest()
        for kind, table in (("r", "rows"), ("t", "tombstones")):
            for uuid, hlc, origin in self.db.execute(
                f"SELECT uuid, hlc, origin FROM {table} WHERE resource_type = ?", (rtype,)
            ):
                acc.add(kind, uuid, hlc, origin)
        return acc.hash

    def records(self, rtype: int) -> Iterable:
        """The stored records of a type, decoded (e.g. Entry messages for RESOURCE_TYPE_ENTRY)."""
        for (blob,) in self.db.execute("SELECT record FROM rows WHERE resource_type = ? ORDER BY uuid", (rtype,)):
            yield getattr(sync_pb2.Record.FromString(blob), NAMES[rtype])


Event = Callable[[dict], None]


class Client:
    """Pulls one library from one node: handshake, then a StateRequest from the stored cursors."""

    def __init__(self, address: str, library_id: str, store: Store, batch_size: int = 0) -> None:
        self.library_id, self.store, self.batch_size = library_id, store, batch_size
        self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = sync_pb2_grpc.SyncServiceStub(self.channel)
        self.call = None  # the StateRequest stream in flight, so stop() can cancel it
        self.stopping = False
        self.cancelled = False  # whether this client cancelled the call in flight itself
        # The node's clock minus ours and the round trip, from the last handshake (None: no time sent).
        self.clock_offset: Optional[tuple[int, int]] = None

    def close(self) -> None:
        self.channel.close()

    def stop(self) -> None:
        """Ends a running sync() after the batch in flight (safe from a signal handler)."""
        self.stopping = True
        if self.call is not None:
            self.cancelled = True
            self.call.cancel()

    def handshake(self, on_event: Event = lambda e: None) -> sync_pb2.HandshakeResponse:
        sent_ms = time.time() * 1000
        hello = self.stub.Handshake(
            sync_pb2.HandshakeRequest(library_id=self.library_id, protocol_version=sync_pb2.PROTOCOL_VERSION_1,
                                      sent_at_ms=int(sent_ms))
        )
        self.clock_offset = clock_offset(sent_ms, time.time() * 1000, hello.server_time_ms)
        if hello.library_id != self.library_id:
            raise RuntimeError(f"node serves library {hello.library_id}, not {self.library_id}")
        # A cursor from another epoch belongs to a database that was recreated or restored:
        # restart that type from 0 rather than skip anything.
        for t in RESOURCE_TYPES:
            cursor = self.store.cursor(hello.device_id, t)
            if cursor.epoch and cursor.epoch != hello.epoch:
                self.store.reset_cursor(hello.device_id, t)
                on_event({"event": "epoch_changed", "type": NAMES[t], "old": cursor.epoch, "new": hello.epoch})
        on_event({"event": "handshake", "device_id": hello.device_id, "epoch": hello.epoch,
                  # A type added in a later v1 release is skipped, as docs/protocol.md says.
                  "heads": {NAMES[h.resource_type]: h.seq for h in hello.heads if h.resource_type in NAMES},
                  **({"clock_offset_ms": self.clock_offset[0], "round_trip_ms": self.clock_offset[1]}
                     if self.clock_offset else {})})
        return hello

    def sync(self, types: Iterable[int] = RESOURCE_TYPES, follow: bool = False,
             max_batches: Optional[int] = None, on_event: Event = lambda e: None,
             origin_filter: bool = False) -> dict:
        """Backfills `types` (then follows them when `follow`). Returns batches/items per type.
        With `origin_filter`, each cursor lists the origin prefixes held, and the node leaves out
        the rows they cover (counted as `held_skipped`); without it, every row comes (v1)."""
        hello = self.handshake(on_event)
        wanted = set(types)
        peer, types = hello.device_id, [t for t in RESOURCE_TYPES if t in wanted]
        cursors = []
        for t in types:
            c = self.store.cursor(peer, t)
            held = self.store.held(t) if origin_filter else []
            cursors.append(sync_pb2.Cursor(resource_type=t, epoch=c.epoch, seq=c.seq, commit_id=c.commit_id, held=held))
            on_event({"event": "start", "type": NAMES[t], "epoch": c.epoch, "seq": c.seq})
        request = sync_pb2.StateRequest(
            library_id=self.library_id, cursors=cursors, batch_size=self.batch_size, follow=follow
        )
        stats = {NAMES[t]: {"batches": 0, "received": 0, "written": 0, "held_skipped": 0} for t in types}
        self.call = self.stub.StreamState(request)
        self.cancelled = False
        if self.stopping:
            self.cancelled = True
            self.call.cancel()
        try:
            for n, batch in enumerate(self.call, start=1):
                written, skipped = self.store.apply_batch(peer, batch)
                s = stats[NAMES[batch.resource_type]]
                s["batches"] += 1
                s["received"] += written + skipped
                s["written"] += written
                s["held_skipped"] += batch.held_skipped
                on_event({"event": "batch", "type": NAMES[batch.resource_type], "records": len(batch.records),
                          "tombstones": len(batch.tombstones), "written": written, "skipped": skipped,
                          "seq": batch.checkpoint.seq, "remaining": batch.remaining,
                          "caught_up": batch.caught_up, "reset": batch.reset})
                if max_batches is not None and n >= max_batches:
                    self.cancelled = True
                    self.call.cancel()
                    break
        except grpc.RpcError as error:
            # CANCELLED is an end only when this client cancelled; a server or a connection that
            # ends the stream with it is a failure to retry, like UNAVAILABLE.
            if error.code() != grpc.StatusCode.CANCELLED or not self.cancelled:
                raise
        finally:
            self.call = None
        return stats

    def verify(self, types: Iterable[int] = RESOURCE_TYPES) -> list[dict]:
        """Compares counts and hashes per type with the node's Digest RPC."""
        types = list(types)
        remote = self.stub.Digest(sync_pb2.DigestRequest(library_id=self.library_id, resource_types=types))
        result = []
        for d in remote.digests:
            if d.resource_type not in NAMES:  # a type of a later v1 release: not held here
                continue
            rows, tombs = self.store.counts(d.resource_type)
            local = self.store.digest(d.resource_type)
            result.append({"type": NAMES[d.resource_type], "rows": rows, "tombstones": tombs,
                           "node_rows": d.row_count, "node_tombstones": d.tombstone_count,
                           "hash": local.hex(), "node_hash": d.hash.hex(),
                           "equal": (rows, tombs, local) == (d.row_count, d.tombstone_count, d.hash)})
        return result


def _printer(as_json: bool) -> Event:
    def show(event: dict) -> None:
        if as_json:
            print(json.dumps(event), file=sys.stderr, flush=True)
        elif event["event"] == "batch":
            print(f"{event['type']:>16}: +{event['records']} rows +{event['tombstones']} tombstones"
                  f" (written {event['written']}) seq {event['seq']}, {event['remaining']} remaining"
                  + (" [reset]" if event["reset"] else ""), file=sys.stderr, flush=True)
        elif event["event"] in ("handshake", "epoch_changed"):
            print(" ".join(f"{k}={v}" for k, v in event.items()), file=sys.stderr, flush=True)
    return show


def _sync_with_retries(client: Client, args, show: Event) -> dict:
    """Reconnects with exponential backoff while the node is unavailable; the stored cursors make
    every attempt resume where the last one stopped. Returns the last attempt's statistics."""
    delay, failures = 0.5, 0
    while not client.stopping:
        progress = []

        def on_event(event: dict) -> None:
            progress.append(event["event"] == "batch")
            show(event)

        try:
            return client.sync(args.types, follow=args.follow, max_batches=args.max_batches, on_event=on_event,
                               origin_filter=args.origin_filter)
        except grpc.RpcError as error:
            if error.code() not in RETRIED_STATUSES or client.stopping:
                raise
            delay, failures = (0.5, 1) if any(progress) else (delay, failures + 1)
            if failures > args.retries:
                raise
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # docs/protocol.md: a node over its limits is backed off for a few seconds at least.
                delay = max(delay, RESOURCE_EXHAUSTED_BACKOFF_S)
            show({"event": "retry", "in_seconds": delay, "error": error.details()})
            time.sleep(delay)
            delay = min(delay * 2, 30)
    return {}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="tidemark_client", description="Pull a Tidemark library into SQLite.")
    parser.add_argument("--address", required=True, help="node address HOST:PORT (plaintext gRPC)")
    parser.add_argument("--library-id", required=True, help="library UUID; the node must serve it")
    parser.add_argument("--db", required=True, help="local SQLite file (created when missing)")
    parser.add_argument("--json", action="store_true", help="events as JSON lines on stderr")
    parser.add_argument("--types", type=lambda s: [resource_type(n) for n in s.split(",")], default=RESOURCE_TYPES,
                        help="comma-separated resource types (default: all)")
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="backfill every type from its own cursor, then stop (or --follow)")
    sync.add_argument("--follow", action="store_true", help="stay connected and apply new changes live")
    sync.add_argument("--batch-size", type=int, default=0, help="records per batch (0 = node default)")
    sync.add_argument("--max-batches", type=int, help="stop after this many batches (resume later)")
    sync.add_argument("--origin-filter", action="store_true",
                      help="tell the node what is held already (from earlier caught-up syncs); it leaves that out")
    sync.add_argument("--retries", type=int, default=5,
                      help="reconnect attempts in a row while the node is unavailable (default 5)")
    commands.add_parser("verify", help="compare counts and digests per type with the node (exit 1 if different)")
    args = parser.parse_args(argv)

    store = Store(args.db, args.library_id)
    client = Client(args.address, args.library_id, store, getattr(args, "batch_size", 0))
    show = _printer(args.json)
    try:
        if args.command == "sync":
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: client.stop())
            print(json.dumps(_sync_with_retries(client, args, show)))
            return 0
        report = client.verify(args.types)
        for r in report:
            mark = "ok  " if r["equal"] else "DIFF"
            print(f"{mark} {r['type']:>16}: {r['rows']}/{r['node_rows']} rows, "
                  f"{r['tombstones']}/{r['node_tombstones']} tombstones, hash {r['hash'][:16]}")
        return 0 if all(r["equal"] for r in report) else 1
    except grpc.RpcError as error:
        print(f"tidemark_client: {error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    except MalformedBatch as error:
        print(f"tidemark_client: rejected batch: {error}", file=sys.stderr)
        return 3
    finally:
        client.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
