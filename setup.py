"""Packaging for pneumonia_nb: metadata and requirements come from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
import shlex
import setuptools

config = ConfigParser(delimiters=["="])
config.read("settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

licenses = {"apache2": "Apache-2.0", "mit": "MIT"}   # SPDX expressions: setuptools deprecates license classifiers
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable",
            "6 - Mature", "7 - Inactive"]
py_versions = "3.10 3.11 3.12 3.13".split()
min_python = cfg["min_python"]
license = licenses.get(cfg["license"].lower(), cfg["license"])
requirements = shlex.split(cfg.get("requirements", ""))
scale_requirements = shlex.split(cfg.get("scale_requirements", ""))
dev_requirements = shlex.split(cfg.get("dev_requirements", "")) + scale_requirements   # the tests run the scale path
console_scripts = cfg.get("console_scripts", "").split()

setuptools.setup(
    name=cfg["lib_name"].replace("_", "-"),
    version=cfg["version"],
    license=license,
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"]) - 1],
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ]
    + [f"Programming Language :: Python :: {v}" for v in py_versions[py_versions.index(min_python):]],
    url=cfg["git_url"],
    packages=setuptools.find_namespace_packages(include=[cfg["lib_path"], cfg["lib_path"] + ".*"]),   # static/ too: the upload page
    include_package_data=True,
    package_data={cfg["lib_path"]: ["static/*"]},   # the web app's upload page
    install_requires=requirements,
    extras_require={"dev": dev_requirements, "scale": scale_requirements},
    python_requires=">=" + min_python,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    zip_safe=False,
    entry_points={"console_scripts": console_scripts, "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    author=cfg["author"],
    author_email=cfg["author_email"],
    description=cfg["description"],
    keywords=cfg["keywords"],
)
