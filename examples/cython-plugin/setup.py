"""Builds the Cython kernel kube_example_pack._kernel (metadata is in pyproject.toml)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("kube_example_pack._kernel", ["kube_example_pack/_kernel.pyx"])],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )
)
