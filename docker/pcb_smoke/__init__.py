"""The smoke tests of the Pointcept GPU image, behind the command line docker/smoke_tests.py.

Modules: checks/ (the registry and the checks, one module per package of the stack), core
(what checks are written with), facts (versions and GPU facts), runner (in-process and
child-process runs, the loop), report (the JSON report of schema 1 and the printed table).
"""
