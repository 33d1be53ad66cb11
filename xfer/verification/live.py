"""`--consistency live` (the default of `xfer verify`): both sides are read as they are, with no
lock and no snapshot, so the application's writes never wait for the check.

A source that is being written then shows differences that are only writes in flight. They are
told apart by reading the differing keys again, on both sides, in rounds (`--recheck N`, a short
pause before each) until every difference is gone or stays:

- gone when read again: not reported (the re-check's counts say how many);
- still different, the source row the same as at the previous read: a difference;
- still different, the source row changed since the previous read (written, inserted or
  deleted meanwhile): *in flight*, changed in the source during the check. Listed apart
  (count and keys) and not counted as missing, extra or changed; the table is "ok" unless
  every key must be settled (`strict`), or differences remain too.

When a follower (`xfer migrate --follow`, xfer.follow) applies this source's changes to this
target, the target lags behind the source by design: differences still there after the rounds
are read once more after the follower has applied the source's change log up to where it was
when the rounds ended (waiting up to `FOLLOWER_WAIT_S`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from xfer.core import interrupt
from xfer.core.changes import Position
from xfer.core.errors import XferError
from xfer.core.options import VerifyOptions
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, ChangeTarget
from xfer.verification.comparison import Comparison, Side
from xfer.verification.diff import Located, classify, count_difference, fetch_keys, sample_of

NOTHING_FOUND = "the checksums differ but no differing row was found"  # (run._record's note)

ROUND_PAUSE_S = 1.0  # before each round: lets the writes under way commit
FOLLOWER_WAIT_S = 60.0  # at most this long for a follower to reach the source's position
FOLLOWER_POLL_S = 0.25

Read = tuple[str, list[int], list[Any]]  # a row as `fetch_keys` gives it: MD5, column hashes, values


@contextmanager
def reading(source: Dialect, target: Dialect, tables: list[str], mode: str) -> Iterator[str | None]:
    """How `xfer verify` holds the two sides while it reads them (`--consistency`): `lock` (the
    source's tables refuse writes, each side in one snapshot), `snapshot` (one snapshot per
    side, the source writable) or `live` (neither). Yields a note for the report, or None."""
    with ExitStack() as stack:
        if mode == "live":
            yield stack.enter_context(source.live_reads(tables))  # (a target is read as it is, too)
            return
        # lock: the source tables refuse writes while read, which lets a faster reader (one
        # connection per key range) see exactly what the snapshot sees
        note = stack.enter_context(source.read_lock(tables)) if mode == "lock" else None
        stack.enter_context(source.snapshot())
        stack.enter_context(target.snapshot())
        yield note


def live_note(options: VerifyOptions) -> str:
    rounds = f"read again in up to {options.recheck} round(s)" if options.recheck else "not read again (--recheck 0)"
    return f"--consistency live: both sides read as they were, no lock, no snapshot; differing keys {rounds}"


# -- a follower of this source and target --------------------------------------------------------
@dataclass
class Follower:
    """A follower that applies this source's changes to this target, found at the check's start."""

    source: Dialect
    target: Dialect
    run_id: str
    start: Position  # the source's change log at the check's start

    def wait(self) -> tuple[bool, str]:
        """Wait until the follower has applied the source's log up to its end now (every change
        the check has seen is before it), at most FOLLOWER_WAIT_S. (reached, what to report)"""
        assert isinstance(self.source, ChangeSource) and isinstance(self.target, ChangeTarget)
        end = self.source.change_position()
        deadline = time.monotonic() + FOLLOWER_WAIT_S
        while True:
            state = next((s for s in self.target.follow_states() if s.run_id == self.run_id), None)
            at = Position.from_dict(state.position) if state is not None else None
            if at is not None and at.key() >= end.key():
                return True, (
                    f"a follower (run {self.run_id}) applies the source's changes here: the differences left "
                    f"were read again once it had applied the source's binlog up to {end} "
                    f"(the check started at {self.start})"
                )
            if state is None or not state.alive or time.monotonic() > deadline:
                why = "stopped" if state is None or not state.alive else f"still at {at} after {FOLLOWER_WAIT_S:.0f} s"
                return False, (
                    f"a follower (run {self.run_id}) applies the source's changes here, but it did not reach the "
                    f"source's binlog position {end} ({why}): the differences left may be changes it has not applied"
                )
            interrupt.check()
            time.sleep(FOLLOWER_POLL_S)


def follower_of(source: Dialect, target: Dialect) -> Follower | None:
    """The live follower (`xfer follow`) of this source and target, if one runs now."""
    if not (isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)):
        return None
    try:
        states = [
            s
            for s in target.follow_states()
            # alive: a follower process holds the run now (its recorded state may not say so yet)
            if s.alive and s.source == str(source.url) and s.target == str(target.url)
        ]
        return Follower(source, target, states[-1].run_id, source.change_position()) if states else None
    except XferError:  # no journal, no binlog: nobody follows
        return None


# -- the rounds ------------------------------------------------------------------------------------
@dataclass
class Settled:
    """What the rounds found, beyond the counts they leave in `Located`."""

    rounds: int = 0
    in_flight: int = 0
    in_flight_keys: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Key:
    key: tuple[Any, ...]  # raw key values
    seen: str | None  # the source row's MD5 at the last read (None: no row)
    moved: bool = False  # the source row changed between the last two reads
    ever_moved: bool = False
    state: tuple[str | None, list[bool], Read | None, Read | None] = (None, [], None, None)


def live_rounds(
    source: Side,
    target: Side,
    cmp: Comparison,
    found: Located,
    first: list[dict[str, Any]],
    options: VerifyOptions,
    follower: Follower | None = None,
) -> Settled:
    """Read the differing keys in `first` (as the drill saw them) again in rounds; leave in
    `found` the differences that stayed, with samples, and return those still moving."""
    out = Settled()
    if found.total > len(first):
        found.notes.append(f"{found.total - len(first)} difference(s) beyond the first {len(first)} were not re-read")
    if options.recheck == 0 or not first:
        _drill_samples(cmp, found, first, options.sample)
        return out
    n, kcols = len(cmp.canons), len(cmp.spec.key)
    keys = {r["kc"]: _Key(_key_of(r, kcols), r["sm"] if r["sn"] else None) for r in first}
    for r in first:  # the drill's view of these keys out of the counts; what stays goes back in
        count_difference(found, cmp, r["kind"], r["sn"], r["tn"], [r[f"f{i}"] for i in range(n)], -1)
    found.rechecked = len(first)
    pending = list(keys)
    for _ in range(options.recheck):
        time.sleep(ROUND_PAUSE_S)
        pending = _round(source, target, cmp, keys, pending)
        out.rounds += 1
        if not any(keys[kc].moved for kc in pending):
            break  # gone, or stayed as they were: another round would read the same
    if pending and follower is not None:
        reached, note = follower.wait()
        out.notes.append(note)
        if reached:
            pending = _round(source, target, cmp, keys, pending)
            out.rounds += 1
    for kc in pending:
        k = keys[kc]
        kind, flags, s, t = k.state
        assert kind is not None
        entry = sample_of(cmp, kind, k.key, s[2] if s else [], t[2] if t else [], flags)
        if k.moved:
            out.in_flight += 1
            if len(out.in_flight_keys) < options.sample:
                out.in_flight_keys.append(entry)
            continue
        count_difference(found, cmp, kind, 1 if s else 0, 1 if t else 0, flags, +1)
        if len(found.samples) < options.sample:
            found.samples.append(entry)
    found.changed_columns = {c: v for c, v in found.changed_columns.items() if v}
    found.resolved = len(first) - len(pending)
    found.source_changed = sum(k.ever_moved for k in keys.values())
    out.notes.extend(_round_notes(found, out, len(first)))
    return out


def _round(source: Side, target: Side, cmp: Comparison, keys: dict[str, _Key], pending: list[str]) -> list[str]:
    """One round: the pending keys read on both sides; returns those that still differ."""
    wanted = {kc: keys[kc].key for kc in pending}
    now_s, now_t = fetch_keys(source, cmp, wanted), fetch_keys(target, cmp, wanted)
    left = []
    for kc in pending:
        k, s, t = keys[kc], now_s.get(kc), now_t.get(kc)
        digest = s[0] if s else None
        k.moved = digest != k.seen
        k.ever_moved = k.ever_moved or k.moved
        k.seen = digest
        kind, flags = classify(s, t, len(cmp.canons))
        if kind is not None:
            k.state = (kind, flags, s, t)
            left.append(kc)
    return left


def _round_notes(found: Located, out: Settled, checked: int) -> list[str]:
    notes = [f"{checked} differing key(s) read again in {out.rounds} round(s): {found.resolved} gone"]
    if out.in_flight:
        notes.append(
            f"{out.in_flight} key(s) changed in the source during the check (still changing in the last round): "
            "not counted as differences; verify again when the source is quiet, or use --strict"
        )
    return notes


def _drill_samples(cmp: Comparison, found: Located, first: list[dict[str, Any]], sample: int) -> None:
    """Samples of differences not read again (--recheck 0), with the values the drill read."""
    import json

    for r in first[:sample]:
        s, t = (json.loads(r[side]) if r.get(side) else {} for side in ("sdisp", "tdisp"))
        flags = [bool(r[f"f{i}"]) for i in range(len(cmp.names))]
        values = [s.get(c) for c in cmp.names], [t.get(c) for c in cmp.names]
        found.samples.append(sample_of(cmp, r["kind"], _key_of(r, len(cmp.spec.key)), *values, flags))


def _key_of(r: dict[str, Any], kcols: int) -> tuple[Any, ...]:
    """A differing row's raw key values, from the side that has the row."""
    pre = "sk" if r["sn"] else "tk"
    return tuple(r[f"{pre}{j}"] for j in range(kcols))


def record_live(r: TableResult, settled: Settled, options: VerifyOptions) -> None:
    """After the table's differences were recorded: the rounds' result and the keys in flight;
    keys in flight make the table differ only with `strict` (or beside real differences)."""
    v = r.verification
    assert v is not None
    v.recheck_rounds = settled.rounds
    v.in_flight, v.in_flight_keys = settled.in_flight, settled.in_flight_keys
    r.notes.extend(settled.notes)
    real = v.missing + v.extra + v.changed
    if not real and not settled.in_flight and r.status == "mismatch":
        # the maps were read while the source was written: the buckets differed, their rows no longer
        r.status, r.error = "ok", None
        r.notes[:] = [n for n in r.notes if n != NOTHING_FOUND]
        r.notes.append("the checksums differed while the tables were read, but no row differed when read again")
    if settled.in_flight and (real or options.strict):
        what = f"{settled.in_flight} changed in the source during the check"
        r.status = "mismatch"
        r.error = f"{r.error}; {what}" if real and r.error else what + (" (--strict)" if not real else "")
