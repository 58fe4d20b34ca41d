"""ganforge's benchmarks: `python -m benchmarks` runs every registered one, `python -m benchmarks.<name>` one.

Never part of the test run; each prints a table and writes JSON (machine, torch version, threads, git commit) to
benchmarks/results/. See README section "Performance".
"""
