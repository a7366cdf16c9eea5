# pip-and-virtualenv: Debian's packages are the only install type (the source type needs PyPI).
export DIB_INSTALLTYPE_pip_and_virtualenv=${DIB_INSTALLTYPE_pip_and_virtualenv:-package}
# What build scripts in the image should run to install with pip / make a virtual environment.
export DIB_PYTHON_PIP="/usr/bin/python3 -m pip"
export DIB_PYTHON_VIRTUALENV="/usr/bin/python3 -m venv"
