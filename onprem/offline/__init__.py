"""Offline bundles: one file that carries a deployment's rendered files and every image its stack needs to
a site that cannot pull anything (`onprem bundle -o FILE`, then `onprem deploy --bundle FILE`).

    manifest.py   what the file holds (pure): the manifest, SHA256SUMS, and whether a bundle fits a config
    saved.py      the images member: one `docker save` stream, gzip-compressed or not, and what it holds
    archive.py    the file itself: written atomically, read back and verified member by member
"""
