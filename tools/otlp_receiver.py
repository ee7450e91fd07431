#!/usr/bin/env python3
"""An OTLP receiver for the tests of `evtrace forward`, built from the official packages only.

  - OTLP/HTTP protobuf: Python's http.server, POST /v1/logs, /v1/traces, /v1/metrics, bodies
    parsed with the PyPI `opentelemetry-proto` messages (gzip accepted);
  - OTLP/gRPC: PyPI `grpcio` serving opentelemetry-proto's LogsService, TraceService and
    MetricsService.

Every log record, span and metric data point received is appended to OUT as one JSON line
(written and flushed before the request is answered, so what the sender saw acknowledged is
always in OUT). With --unavailable-for SECS the receiver answers 503 (HTTP) or UNAVAILABLE
(gRPC) from its first request until SECS seconds later, then accepts. With --reject-every N it
rejects every Nth log record (not stored) and says so in a partial_success. With --tls-cert and
--tls-key both listen with TLS (ssl for HTTP, grpc.ssl_server_credentials for gRPC).

Usage:
  otlp_receiver.py --out OUT --ready READY [--http-port N] [--grpc-port N] [--unavailable-for S]
      [--reject-every N] [--tls-cert PEM --tls-key PEM]
      READY gets "http=PORT grpc=PORT" once both listen on 127.0.0.1 (port 0: any free one).
  otlp_receiver.py --summary OUT
      counts of log records, spans, and duplicates by the `evtrace.record.id` attribute.
"""
import argparse
import gzip
import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def any_value(v):
    """An AnyValue as {"type": value}, typed as it came (int64 as a JSON number)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return {"empty": None}
    if kind == "array_value":
        return {"array": [any_value(x) for x in v.array_value.values]}
    if kind == "kvlist_value":
        return {"kvlist": attrs(v.kvlist_value.values)}
    if kind == "bytes_value":
        return {"bytes": v.bytes_value.hex()}
    return {kind.replace("_value", ""): getattr(v, kind)}


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


class Store:
    """OUT, appended under a lock; the unavailable window, from the first request on."""

    def __init__(self, path, unavailable_for, reject_every=0):
        self.f = open(path, "a", encoding="utf-8")
        self.reject_every = reject_every
        self.seen_logs = 0
        self.lock = threading.Lock()
        self.unavailable_for = unavailable_for
        self.first = None
        self.refused = 0

    def unavailable(self):
        with self.lock:
            now = time.monotonic()
            if self.first is None:
                self.first = now
            if now - self.first < self.unavailable_for:
                self.refused += 1
                return True
            return False

    def write(self, lines):
        with self.lock:
            for line in lines:
                self.f.write(json.dumps(line) + "\n")
            self.f.flush()

    def logs(self, req, transport, meta):
        """Stores the records; returns how many were rejected (--reject-every)."""
        out = []
        rejected = 0
        for rl in req.resource_logs:
            res = attrs(rl.resource.attributes)
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    with self.lock:
                        self.seen_logs += 1
                        reject = self.reject_every and self.seen_logs % self.reject_every == 0
                    if reject:
                        rejected += 1
                        continue
                    out.append({
                        "kind": "log", "transport": transport, "meta": meta, "resource": res,
                        "scope": sl.scope.name,
                        "time_unix_nano": r.time_unix_nano,
                        "observed_time_unix_nano": r.observed_time_unix_nano,
                        "severity_number": r.severity_number, "severity_text": r.severity_text,
                        "event_name": r.event_name,
                        "body": any_value(r.body), "attributes": attrs(r.attributes),
                        "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(),
                    })
        self.write(out)
        return rejected

    def traces(self, req, transport, meta):
        out = []
        for rs in req.resource_spans:
            res = attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append({
                        "kind": "span", "transport": transport, "resource": res,
                        "scope": ss.scope.name, "name": s.name,
                        "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "end_time_unix_nano": s.end_time_unix_nano,
                        "attributes": attrs(s.attributes),
                    })
        self.write(out)

    def metrics(self, req, transport, meta):
        out = []
        for rm in req.resource_metrics:
            res = attrs(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    d = MessageToDict(m, preserving_proto_field_name=True)
                    out.append({"kind": "metric", "transport": transport, "resource": res,
                                "name": m.name, "metric": d})
        self.write(out)


def response(resp_t, rejected):
    """An export response; a partial success when log records were rejected."""
    resp = resp_t()
    if rejected:
        resp.partial_success.rejected_log_records = rejected
        resp.partial_success.error_message = "the test receiver rejects every Nth record"
    return resp


def http_handler(store):
    routes = {
        "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest,
                     logs_service_pb2.ExportLogsServiceResponse, store.logs),
        "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest,
                       trace_service_pb2.ExportTraceServiceResponse, store.traces),
        "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                        metrics_service_pb2.ExportMetricsServiceResponse, store.metrics),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, code, body=b"", ctype="application/x-protobuf"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            route = routes.get(self.path)
            if route is None:
                return self.answer(404, b"no such OTLP path", "text/plain")
            if store.unavailable():
                return self.answer(503, b"unavailable (test window)", "text/plain")
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            req_t, resp_t, keep = route
            req = req_t()
            try:
                req.ParseFromString(body)
            except Exception as e:  # a malformed body is the sender's fault: 400, as OTLP says
                return self.answer(400, str(e).encode(), "text/plain")
            meta = {"authorization": self.headers.get("Authorization"),
                    "content_encoding": self.headers.get("Content-Encoding")}
            self.answer(200, response(resp_t, keep(req, "http", meta)).SerializeToString())

    return Handler


def grpc_services(store):
    def guarded(keep, resp_t):
        def export(self, request, context):
            if store.unavailable():
                context.abort(grpc.StatusCode.UNAVAILABLE, "unavailable (test window)")
            md = dict(context.invocation_metadata())
            meta = {"authorization": md.get("authorization"),
                    "content_encoding": md.get("grpc-encoding")}
            return response(resp_t, keep(request, "grpc", meta))
        return export

    logs = type("Logs", (logs_service_pb2_grpc.LogsServiceServicer,), {
        "Export": guarded(store.logs, logs_service_pb2.ExportLogsServiceResponse)})
    traces = type("Traces", (trace_service_pb2_grpc.TraceServiceServicer,), {
        "Export": guarded(store.traces, trace_service_pb2.ExportTraceServiceResponse)})
    metrics = type("Metrics", (metrics_service_pb2_grpc.MetricsServiceServicer,), {
        "Export": guarded(store.metrics, metrics_service_pb2.ExportMetricsServiceResponse)})
    return logs(), traces(), metrics()


def summary(path):
    logs = spans = 0
    ids = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "log":
                logs += 1
                rid = r["attributes"].get("evtrace.record.id", {}).get("string")
                if rid is not None:
                    ids[rid] = ids.get(rid, 0) + 1
            elif r["kind"] == "span":
                spans += 1
    dup = sum(n - 1 for n in ids.values())
    print(json.dumps({"logs": logs, "spans": spans, "unique_record_ids": len(ids),
                      "duplicates": dup}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--ready")
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--grpc-port", type=int, default=0)
    ap.add_argument("--unavailable-for", type=float, default=0.0)
    ap.add_argument("--reject-every", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--summary")
    a = ap.parse_args()
    if a.summary:
        return summary(a.summary)
    if not a.out or not a.ready:
        ap.error("--out and --ready are needed (or --summary OUT)")
    store = Store(a.out, a.unavailable_for, a.reject_every)
    httpd = ThreadingHTTPServer(("127.0.0.1", a.http_port), http_handler(store))
    if a.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    logs, traces, metrics = grpc_services(store)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(logs, server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(traces, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, server)
    if a.tls_cert:
        with open(a.tls_key, "rb") as k, open(a.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        grpc_port = server.add_secure_port(f"127.0.0.1:{a.grpc_port}", creds)
    else:
        grpc_port = server.add_insecure_port(f"127.0.0.1:{a.grpc_port}")
    server.start()
    with open(a.ready + ".tmp", "w") as f:
        f.write(f"http={httpd.server_address[1]} grpc={grpc_port}\n")
    import os
    os.replace(a.ready + ".tmp", a.ready)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    server.stop(0)


if __name__ == "__main__":
    sys.exit(main())
