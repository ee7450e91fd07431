#!/usr/bin/env python3
"""Reads an .etl file with two independent readers and prints what they saw, as JSON.

Used by runtime/tests/independent_readers.rs to prove that files written by evtrace are
accepted by readers that share no code with it:
  - etl-parser (PyPI `etl-parser`, Apache-2.0): decodes TraceLogging fields;
  - dissect.etl (PyPI `dissect.etl`, AGPL; run as an outside tool only): buffers, headers,
    extended items, timestamps converted with the file header; decompresses compressed buffers.

Usage: check_etl_readers.py FILE [--no-etl-parser]
Install: pip install etl-parser dissect.etl
"""
import json
import sys


def with_etl_parser(path):
    from etl.etl import IEtlFileObserver, build_from_stream

    out = {"events": [], "messages": [], "errors": [], "system": []}

    class Obs(IEtlFileObserver):
        def on_event_record(self, event):
            rec = {"pid": event.get_process_id(), "tid": event.get_thread_id(),
                   "timestamp": event.get_timestamp()}
            try:
                tl = event.parse_tracelogging()
                rec["event"] = tl.get_name()
                rec["fields"] = {k: repr(v) if not isinstance(v, (int, float, str, bool, list)) else v
                                 for k, v in tl.items()}
            except Exception as e:  # manifest events and loss records have no schema
                rec["error"] = type(e).__name__
            out["events"].append(rec)

        def on_trace_record(self, event):
            out["errors"].append("trace record")

        def on_perfinfo_trace(self, obj):
            out["errors"].append("perfinfo record")

        def on_system_trace(self, obj):
            # Kernel records: etl-parser's own MOF tables (64-bit layouts only) decode them.
            h = obj.source.system_header
            rec = {"group": int(h.header.group), "type": int(h.header.type),
                   "version": h.marker.version, "marker": int(h.marker.type.enum),
                   "pid": h.process_id}
            try:
                mof = obj.get_mof()
                rec["class"] = type(mof).__name__
                rec["fields"] = {k: v for k, v in mof.source.items()
                                 if not k.startswith("_") and isinstance(v, (int, str))}
                for getter in ("get_image_file_name", "get_command_line", "get_image_filename"):
                    if hasattr(mof, getter):
                        rec[getter[4:]] = getattr(mof, getter)()
            except Exception as e:  # a class, version or type etl-parser does not know
                rec["error"] = type(e).__name__
            out["system"].append(rec)

        def on_win_trace(self, obj):
            out["messages"].append({"pid": obj.get_process_id(), "tid": obj.get_thread_id()})

    with open(path, "rb") as f:
        etl_file = build_from_stream(f.read())
    hdr = etl_file.get_header().source
    out["header"] = {"BufferSize": hdr.BufferSize, "PerfFreq": hdr.PerfFreq,
                     "logger_name": etl_file.get_header().get_session_name()}
    etl_file.parse(Obs())
    return out


def with_dissect(path):
    from dissect.etl.etl import ETL

    out = {"records": [], "errors": []}
    with open(path, "rb") as f:
        e = ETL(f)
        lh = e.logfile_header
        out["header"] = {"buffers_written": lh.buffers_written, "perf_freq": lh.perf_freq,
                         "start_time": lh.start_time, "logger_name": lh.logger_name,
                         "log_filename": lh.log_filename}
        for record in e:
            h = record.header
            rec = {"kind": type(h).__name__, "pid": h.process_id, "tid": h.thread_id}
            if type(h).__name__ == "SystemHeader":
                rec["hook_id"] = int(h.hook_id)
            try:
                rec["time"] = h.timestamp.isoformat()
            except Exception as ex:
                rec["time_error"] = repr(ex)
            if type(h).__name__ == "EventHeader":
                rec["opcode"] = h.opcode
                names = []
                for x in h.header_extensions:
                    d = x.data
                    if "ProviderName" in d:
                        v = d["ProviderName"]
                        names.append(v.decode() if isinstance(v, bytes) else str(v))
                rec["provider_names"] = names
                rec["ext_types"] = [int(x.ext_type) for x in h.header_extensions]
                # GUIDs upper case without braces, as evtrace's Guid prints them.
                rec["activity_id"] = str(h.activity_id).upper()
                for x in h.header_extensions:
                    if int(x.ext_type) == 1:
                        rec["related_activity_id"] = str(x.data["Guid"]).upper()
            out["records"].append(rec)
    return out


def main():
    path = sys.argv[1]
    res = {}
    if "--no-etl-parser" not in sys.argv:
        try:
            res["etl_parser"] = with_etl_parser(path)
        except Exception as e:
            res["etl_parser"] = {"fatal": f"{type(e).__name__}: {e}"}
    try:
        res["dissect"] = with_dissect(path)
    except Exception as e:
        res["dissect"] = {"fatal": f"{type(e).__name__}: {e}"}
    json.dump(res, sys.stdout, default=str)


if __name__ == "__main__":
    main()
