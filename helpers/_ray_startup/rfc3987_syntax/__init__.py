"""Not the real ``rfc3987_syntax``: put first on the path of Ray's own processes by
``helpers.scale.start_local``, so that their ``import ray`` skips it.

``import ray`` imports ``jsonschema``, which imports the optional ``rfc3987_syntax`` (installed
here by Jupyter's ``jsonschema[format-nongpl]``) if it can; that import builds a Lark grammar,
about 1.9 s of CPU of the 2.5 s ``import ray`` takes on an idle machine. Ray starts several
Python processes at once, and on a busy 2-core machine its agents then missed the raylet's
start-up deadline. ``jsonschema`` imports it inside ``suppress(ImportError)``, and only checks
the ``iri`` formats with it, which Ray does not use.
"""

raise ImportError("rfc3987_syntax is left out of Ray's processes by helpers.scale.start_local")
