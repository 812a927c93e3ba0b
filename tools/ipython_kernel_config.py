# Installed by `make` into .venv/etc/ipython/, so it applies to this environment's kernels only.
# TensorFlow 2.21 writes C++ start-up logs (absl, before logging is initialised) straight to file
# descriptor 2, whatever TF_CPP_MIN_LOG_LEVEL says. With fd capture on, ipykernel copies them into
# the cells' outputs at unpredictable moments, which breaks strict nbval comparison. With it off
# they go to the terminal that started the kernel, like any other server log.
c.IPKernelApp.capture_fd_output = False  # noqa: F821 (c is provided by IPython's config loader)
