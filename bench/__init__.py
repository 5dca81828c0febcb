"""Benchmarks of vault's storages against Pyrofork's and a raw ``sqlite3`` baseline.

Run ``python -m bench`` (needs the ``bench`` extra); ``python -m bench --quick`` runs every
workload once on tiny sizes, as CI does, so the harness cannot rot.
"""
