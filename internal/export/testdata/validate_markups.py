"""Validate a markups JSON file against a JSON schema with python3-jsonschema.

usage: validate_markups.py SCHEMA FILE
Exit 0 and print "ok" when valid; exit 1 and print every violation otherwise.
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
validator = jsonschema.Draft7Validator(schema)
errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors:
    print("invalid at /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message))
if errors:
    sys.exit(1)
print("ok")
