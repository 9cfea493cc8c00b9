"""Parses OpenMetrics text from stdin with the Prometheus Python client's strict parser and
prints every sample as one JSON line: {"name", "labels", "value", "type"}. Any error in the
text makes the parser raise, and this exit non-zero."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"name": sample.name, "labels": sample.labels,
                          "value": sample.value, "type": family.type}))
