"""Native builds: Cython and pybind11 extensions from src/_native, the Rust crate, protobufs."""

from setuptools import setup

setup()
