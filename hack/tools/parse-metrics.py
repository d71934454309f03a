"""Reads a metrics exposition on stdin with the Prometheus Python client's parser for its format
(argv[1]: "openmetrics" or "prometheus") and prints its families as JSON: name, type, help and
samples. A parse error exits non-zero with the parser's message."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

text = sys.stdin.read()
parse = openmetrics_families if sys.argv[1] == "openmetrics" else prometheus_families
families = [
    {
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }
    for family in parse(text)
]
json.dump(families, sys.stdout)
