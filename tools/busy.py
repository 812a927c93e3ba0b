"""Run a command while busy processes keep every core saturated, as on a learner's busy laptop.

    python tools/busy.py --loops 4 --seconds 3600 -- python -m pytest --nbval notebooks

Starts ``--loops`` CPU-bound processes, runs the command, and stops them when it ends, however it
ends (exit, error, Ctrl-C, a signal). Each busy process also stops by itself after ``--seconds``,
so none outlives a killed run by more than that; the command is stopped then too. The exit code
is the command's (124 if it ran out of time).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

# A busy loop that ends by itself: the bound holds even if this script is killed with SIGKILL.
LOOP = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def run_busy(command: list[str], loops: int, seconds: float) -> int:
    """Run command with ``loops`` busy processes for at most ``seconds``; return its exit code."""
    if not command:
        raise SystemExit("busy.py: no command to run (put it after --)")
    if loops < 0 or seconds <= 0:
        raise SystemExit(f"busy.py: need --loops >= 0 and --seconds > 0; got {loops}, {seconds}")
    code = LOOP.format(seconds=seconds)
    busy = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(loops)]
    # SIGTERM (e.g. CI cancelling the job) unwinds like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    start = time.monotonic()
    print(f"busy.py: {loops} busy processes for at most {seconds:.0f} s", flush=True)
    child = None
    try:
        child = subprocess.Popen(command)
        try:
            return child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            print(f"busy.py: the command ran out of time ({seconds:.0f} s)", file=sys.stderr)
            return 124
    finally:
        for process in ([child] if child is not None else []) + busy:
            if process.poll() is None:
                process.terminate()
        for process in ([child] if child is not None else []) + busy:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print(f"busy.py: stopped the busy processes after {time.monotonic() - start:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=4, help="busy processes (default 4)")
    parser.add_argument(
        "--seconds", type=float, default=3600, help="the bound on everything (default 3600)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return run_busy(command, args.loops, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
