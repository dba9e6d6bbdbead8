"""Service functions: every write goes through here (validation, cascades, audit, effects).

Services flush but never commit; the edge (request, job, event) owns the transaction.
"""
