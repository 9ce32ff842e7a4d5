"""The compiled part of trialsim: sim._course, the kernel of sim.dose_modification.run_course.

Everything else is declared in pyproject.toml. The kernel must give the Python reference's results
bit for bit, so floating-point contraction (FMA fusion, which GCC allows by default where the
target has FMA) is switched off and no fast-math flag is used. A failed build fails the install:
there is no pure-Python fallback.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sim._course",
            sources=["sim/_course.c"],
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
        )
    ]
)
