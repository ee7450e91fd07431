#!/usr/bin/env python3
"""Sends known records with OpenTelemetry's official Python SDK and OTLP exporters, so that the
tests can prove tools/otlp_receiver.py decodes what real OTLP senders send.

For each transport, COUNT log records (body "official N", attributes proof.n=N (int),
proof.transport=http|grpc, severity WARN) and one span "official-span" are exported, then the
providers are shut down (which flushes them).

Usage: otlp_official_export.py HTTP_PORT GRPC_PORT COUNT
Install: pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
         opentelemetry-exporter-otlp-proto-grpc
"""
import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def send(transport, log_exporter, span_exporter, count):
    resource = Resource.create({"service.name": "official-proof"})
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logging.getLogger(f"proof.{transport}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(level=logging.INFO, logger_provider=logs)
    logger.addHandler(handler)
    for n in range(count):
        logger.warning("official %d", n, extra={"proof.n": n, "proof.transport": transport})
    logger.removeHandler(handler)
    logs.shutdown()
    traces = TracerProvider(resource=resource)
    traces.add_span_processor(SimpleSpanProcessor(span_exporter))
    with traces.get_tracer("proof").start_as_current_span("official-span"):
        pass
    traces.shutdown()


def main(http_port, grpc_port, count):
    base = f"http://127.0.0.1:{http_port}"
    send("http", HttpLogs(endpoint=f"{base}/v1/logs"), HttpSpans(endpoint=f"{base}/v1/traces"),
         count)
    target = f"127.0.0.1:{grpc_port}"
    send("grpc", GrpcLogs(endpoint=target, insecure=True),
         GrpcSpans(endpoint=target, insecure=True), count)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
