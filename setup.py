"""Packaging for objstore: the object store (objstore/) and its ring (ring/)."""
from setuptools import find_packages, setup

setup(
    name="objstore",
    version="0.1.0",
    description="A Swift-compatible distributed object store",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["objstore", "objstore.*", "ring", "ring.*"]),
    package_data={"ring": ["py.typed"]},
    install_requires=[
        "eventlet>=0.36",
        "greenlet>=3.0",
        "msgpack>=1.0",
        "netifaces-plus>=0.12",
        "webob>=1.8",
        "zlib-ng>=0.5",
    ],
    extras_require={
        # python-glanceclient: the glance CLI, for the image service's tests only
        "test": ["pytest>=7.4", "mypy>=1.5", "python-swiftclient>=4.0",
                 "python-glanceclient>=4.0"],
    },
    entry_points={
        "console_scripts": [
            "objstore-ring-builder = ring.cli:main",
            "objstore-object-server = objstore.obj.server:main",
            "objstore-proxy-server = objstore.proxy.server:main",
            "objstore-container-server = objstore.container.server:main",
            "objstore-account-server = objstore.account.server:main",
            "objstore-aio = objstore.aio:main",
            "objstore-image-server = objstore.image.server:main",
            "objstore-image = objstore.image.cli:main",
            "objstore-object-auditor = objstore.obj.auditor:main",
            "objstore-object-replicator = objstore.obj.replicator:main",
            "objstore-object-updater = objstore.obj.updater:main",
            "objstore-object-expirer = objstore.obj.expirer:main",
            "objstore-container-replicator = objstore.container.replicator:main",
            "objstore-account-replicator = objstore.account.replicator:main",
            "objstore-container-auditor = objstore.container.auditor:main",
            "objstore-account-auditor = objstore.account.auditor:main",
            "objstore-account-reaper = objstore.account.reaper:main",
            "objstore-container-updater = objstore.container.updater:main",
        ],
    },
)
