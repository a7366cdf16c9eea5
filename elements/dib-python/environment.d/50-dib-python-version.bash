# dib-python: the Python that build scripts in the image use. Debian bookworm has only Python 3, so
# asking for another version stops the build here with the reason rather than later without one.
if [ "${DIB_PYTHON_VERSION:-3}" != 3 ]; then
    echo "dib-python: DIB_PYTHON_VERSION=${DIB_PYTHON_VERSION} is not available: Debian bookworm has only Python 3 (unset it or set it to 3)" >&2
    return 1
fi
export DIB_PYTHON_VERSION=3
export DIB_PYTHON=python3
