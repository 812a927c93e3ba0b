# Installed by `make` into .venv/etc/ipython/, so it applies to this environment's kernels only.
# TensorFlow 2.21 writes C++ start-up logs (absl, before logging is initialised) straight to file
# descriptor 2, whatever TF_CPP_MIN_LOG_LEVEL says. With fd capture on, ipykernel copies them into
# the cells' outputs at unpredictable moments, which breaks strict nbval comparison. With it off
# they go to the terminal that started the kernel, like any other server log; the filter below
# drops the informational ones there, so `make run`, `make test` and `make lab` stay quiet.
import os
import re
import threading

c.IPKernelApp.capture_fd_output = False  # noqa: F821 (c is provided by IPython's config loader)
# Only errors from the kernel application itself: not "Kernel is running over TCP without
# encryption" (jupyter's kernels listen on 127.0.0.1 only) or its other start-up notes.
c.IPKernelApp.log_level = "ERROR"  # noqa: F821

# Lines dropped from fd 2: absl/glog informational lines ("I0000 00:00:... cudart_stub.cc:31]
# Could not find cuda drivers ..."), absl's note that precedes them, and the second line of
# TensorFlow's CPU-instructions note. Warnings and errors (W/E/F lines) and anything else pass.
_NOISE = re.compile(
    rb"^(I\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)


def _filter_fd2() -> None:
    """Route fd 2 through a pipe; a thread forwards every line but the noise to the real fd 2."""
    read, write = os.pipe()
    terminal = os.dup(2)
    os.dup2(write, 2)
    os.close(write)

    def forward() -> None:
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                if not _NOISE.match(line):
                    os.write(terminal, line)

    threading.Thread(target=forward, name="fd2-filter", daemon=True).start()


_filter_fd2()
