#!/usr/bin/env python3
"""Reads a .perfetto-trace with Google's own schema (the PyPI `perfetto` package's
perfetto_trace_pb2) and prints what it holds as JSON, after checking that every track used is
described, slices balance per track and every interned id resolves (exit 1 and the problems
otherwise).

Usage: check_perfetto_trace.py FILE
"""
import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb


def main(path):
    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())
    problems = []
    tracks = {}  # uuid -> descriptor
    tables = {"cat": {}, "name": {}, "ann": {}}
    events = []  # (ts, order, type, uuid, name, cat, annotations)
    snapshot = None
    for i, p in enumerate(trace.packet):
        if p.HasField("clock_snapshot"):
            snapshot = {c.clock_id: c.timestamp for c in p.clock_snapshot.clocks}
            snapshot["primary"] = p.clock_snapshot.primary_trace_clock
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            tracks[d.uuid] = d
        if p.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
            tables = {"cat": {}, "name": {}, "ann": {}}
        if p.HasField("interned_data"):
            for e in p.interned_data.event_categories:
                tables["cat"][e.iid] = e.name
            for e in p.interned_data.event_names:
                tables["name"][e.iid] = e.name
            for e in p.interned_data.debug_annotation_names:
                tables["ann"][e.iid] = e.name
        if not p.HasField("track_event"):
            continue
        te = p.track_event
        if not p.sequence_flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE:
            problems.append(f"packet {i}: a track event without SEQ_NEEDS_INCREMENTAL_STATE")
        if te.track_uuid not in tracks:
            problems.append(f"packet {i}: track {te.track_uuid} is not described")
        name = cat = None
        anns = {}
        if te.type != pb.TrackEvent.TYPE_SLICE_END:
            if te.name_iid not in tables["name"]:
                problems.append(f"packet {i}: name iid {te.name_iid} does not resolve")
            name = tables["name"].get(te.name_iid)
            for c in te.category_iids:
                if c not in tables["cat"]:
                    problems.append(f"packet {i}: category iid {c} does not resolve")
            cat = ",".join(tables["cat"].get(c, "?") for c in te.category_iids)
            for a in te.debug_annotations:
                if a.name_iid not in tables["ann"]:
                    problems.append(f"packet {i}: annotation name iid {a.name_iid} does not resolve")
                anns[tables["ann"].get(a.name_iid, "?")] = value(a)
        events.append((p.timestamp, i, te.type, te.track_uuid, name, cat, anns))
    # Balance per track, in time order (a begin before an end at the same time).
    depth = {}
    for ts, _, ty, uuid, *_ in sorted(events, key=lambda e: (e[0], 0 if e[2] == 1 else 1, e[1])):
        if ty == pb.TrackEvent.TYPE_SLICE_BEGIN:
            depth[uuid] = depth.get(uuid, 0) + 1
        elif ty == pb.TrackEvent.TYPE_SLICE_END:
            depth[uuid] = depth.get(uuid, 0) - 1
            if depth[uuid] < 0:
                problems.append(f"track {uuid}: an end without a begin at {ts}")
    for uuid, d in depth.items():
        if d > 0:
            problems.append(f"track {uuid}: {d} slices not ended")
    if snapshot is None:
        problems.append("no clock snapshot")

    def track_of(uuid):
        d = tracks.get(uuid)
        if d is None:
            return None
        if d.HasField("thread"):
            return {"kind": "thread", "pid": d.thread.pid, "tid": d.thread.tid}
        parent = tracks.get(d.parent_uuid)
        if parent is not None and parent.HasField("process"):
            return {"kind": "async", "pid": parent.process.pid, "name": d.name}
        return {"kind": "global", "name": d.name}

    out = {
        "problems": problems,
        "packets": len(trace.packet),
        "clock": {str(k): v for k, v in (snapshot or {}).items()},
        "processes": {},
        "threads": sorted(
            [d.thread.pid, d.thread.tid] for d in tracks.values() if d.HasField("thread")
        ),
        "instants": [],
        "slices": [],
    }
    for d in tracks.values():
        if d.HasField("process"):
            # The last descriptor of a process is what the trace says of it.
            out["processes"][str(d.process.pid)] = d.process.process_name or None
    begins = {}
    for ts, _, ty, uuid, name, cat, anns in events:
        ev = {"ts": ts, "name": name, "cat": cat, "args": anns, "track": track_of(uuid)}
        if ty == pb.TrackEvent.TYPE_INSTANT:
            out["instants"].append(ev)
        elif ty == pb.TrackEvent.TYPE_SLICE_BEGIN:
            begins.setdefault(uuid, []).append(ev)
        elif ty == pb.TrackEvent.TYPE_SLICE_END and begins.get(uuid):
            b = begins[uuid].pop()
            b["dur"] = ts - b["ts"]
            out["slices"].append(b)
    json.dump(out, sys.stdout)
    return 1 if problems else 0


def value(a):
    kind = a.WhichOneof("value")
    if kind is not None:
        return getattr(a, kind)
    if len(a.dict_entries):
        return {e.name: value(e) for e in a.dict_entries}
    if len(a.array_values):
        return [value(e) for e in a.array_values]
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
