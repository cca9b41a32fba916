"""Patients matched to slide feature files: the ``bags`` of the slide and multimodal models.

A cohort is a table (one row per patient) plus a folder of patch-feature files
(CLAM/TRIDENT ``.h5``, CLAM ``.pt``), one per slide, named after the slide.
Patients are matched to feature files

- through a slide column (by default ``slide_ids`` when the table has it):
  ``;``-separated slide file names, matched to feature files by name without
  extension; a slide listed for two patients is refused;
- otherwise by prefix: a feature file belongs to the patient whose ID starts
  its name, up to a separator (``TCGA-A1-A0SB-01Z-00-DX1.h5`` -> ``TCGA-A1-A0SB``).

Patients without a feature file get ``None`` in ``bags`` (the models give them
a learned "missing slide" token).

Examples
--------
>>> import tempfile, pathlib
>>> import pandas as pd
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("TCGA-A1-A0SB-01Z-00-DX1.h5", "TCGA-A1-A0SC-01Z-00-DX1.h5"):
...     _ = (d / name).write_bytes(b"")
>>> table = pd.DataFrame({"case_id": ["TCGA-A1-A0SB", "TCGA-A1-A0SC", "TCGA-A1-A0SD"]})
>>> match = match_table_slides(table, d, id_col="case_id")
>>> [None if b is None else [p.name for p in b] for b in match.bags]
[['TCGA-A1-A0SB-01Z-00-DX1.h5'], ['TCGA-A1-A0SC-01Z-00-DX1.h5'], None]
>>> match.n_with_slides, match.how
(2, 'patient ID prefix of the feature-file names')

``match.bags`` is what :class:`coxmt.WSICoxMT` takes: ``WSICoxMT().fit(match.bags, y)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FEATURE_SUFFIXES",
    "SLIDE_COLUMN",
    "SlideMatch",
    "find_feature_files",
    "match_slides",
    "match_table_slides",
    "slide_column",
]

#: Feature-file endings read from a feature folder (``.h5`` preferred for the same slide).
FEATURE_SUFFIXES = (".h5", ".pt")
#: The slide column used when the table has it and none is named.
SLIDE_COLUMN = "slide_ids"


def find_feature_files(features_dir: str | Path) -> dict[str, Path]:
    """Feature files of a folder by slide name (file name without extension).

    ``.h5`` files win over ``.pt`` files of the same slide; CLAM's ``h5_files/``
    and ``pt_files/`` subfolders are searched as well; hidden and temporary
    files are skipped.

    Parameters
    ----------
    features_dir : str or Path
        Folder of ``<slide>.h5`` / ``<slide>.pt`` files.

    Returns
    -------
    dict of str to Path
        Feature file per slide name.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    ValueError
        If it is a file or holds no feature file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("S1.pt", "S1.h5", "S2.pt", "notes.txt"):
    ...     _ = (d / name).write_bytes(b"")
    >>> {k: v.name for k, v in find_feature_files(d).items()}
    {'S1': 'S1.h5', 'S2': 'S2.pt'}
    """
    features_dir = Path(features_dir)
    if not features_dir.exists():
        raise FileNotFoundError(
            f"feature folder {str(features_dir)!r} does not exist; pass features_dir= the "
            "folder of <slide>.h5 files written by 'coxmt wsi extract' (or CLAM/TRIDENT)"
        )
    if not features_dir.is_dir():
        raise ValueError(
            f"features_dir= {str(features_dir)!r} is a file; pass the folder that holds the "
            "feature files"
        )
    found: dict[str, Path] = {}
    folders = [features_dir, features_dir / "h5_files", features_dir / "pt_files"]
    for folder in (f for f in folders if f.is_dir()):
        for path in sorted(folder.iterdir()):
            suffix = path.suffix.lower()
            if path.name.startswith(".") or suffix not in FEATURE_SUFFIXES or not path.is_file():
                continue
            old = found.get(path.stem)
            if old is None or (old.suffix.lower() != ".h5" and suffix == ".h5"):
                found[path.stem] = path
    if not found:
        raise ValueError(
            f"no feature files ({', '.join(FEATURE_SUFFIXES)}) in {str(features_dir)!r}; "
            "extract them with 'coxmt wsi extract SLIDES -o FOLDER' or point features_dir= at "
            "the folder that holds them"
        )
    return found


@dataclass
class SlideMatch:
    """Feature files matched to the patients of a table.

    Attributes
    ----------
    bags : list
        One entry per patient: a list of feature-file paths, or None (no slide).
        The ``bags`` argument of the slide and multimodal models.
    how : str
        How the match was made (for messages).
    unlisted : list of str
        Slides named in the slide column without a feature file.
    unused : int
        Feature files matched to no patient.
    """

    bags: list[list[Path] | None]
    how: str
    unlisted: list[str]
    unused: int

    @property
    def n_with_slides(self) -> int:
        """Patients with at least one feature file."""
        return sum(b is not None for b in self.bags)

    @property
    def n_slides(self) -> int:
        """Feature files used."""
        return sum(len(b) for b in self.bags if b is not None)


def _slide_names(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [s.strip() for s in str(value).split(";") if s.strip()]


def _strip_slide_suffix(name: str) -> str:
    low = name.lower()
    for suffix in (".ome.tiff", ".ome.tif"):
        if low.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def match_slides(
    ids: Sequence[Any],
    files: Mapping[str, Path],
    slide_lists: Sequence[Any] | None = None,
    *,
    slide_col: str = "",
) -> SlideMatch:
    """Match feature files (by slide name) to patients.

    Parameters
    ----------
    ids : sequence
        Patient IDs, one per patient.
    files : mapping of str to Path
        Feature files by slide name, as from :func:`find_feature_files`.
    slide_lists : sequence, optional
        Per patient, the ``;``-separated slide file names (with or without
        extension). When None, a file belongs to the patient whose ID starts its
        name up to a separator (``-``, ``_``, ``.``, ...); the longest such ID wins.
    slide_col : str
        Name of the slide column, for messages.

    Returns
    -------
    SlideMatch
        The bags, one per patient, and what could not be matched.

    Raises
    ------
    ValueError
        If ``slide_lists`` has another length than ``ids``, or lists a slide for
        two patients.

    Examples
    --------
    >>> files = {"TCGA-A1-A0SB-01Z-00-DX1": Path("a.h5"), "TCGA-A1-A0SB-01Z-00-DX2": Path("b.h5"),
    ...          "P10-slide": Path("c.h5")}
    >>> m = match_slides(["TCGA-A1-A0SB", "P1", "P10"], files)
    >>> [None if b is None else [p.name for p in b] for b in m.bags]
    [['a.h5', 'b.h5'], None, ['c.h5']]
    >>> m = match_slides(["x", "y"], files, ["TCGA-A1-A0SB-01Z-00-DX1.svs;gone.svs", None])
    >>> [None if b is None else [p.name for p in b] for b in m.bags], m.unlisted, m.unused
    ([['a.h5'], None], ['gone.svs'], 2)
    """
    id_list = [str(i) for i in ids]
    used: set[str] = set()
    bags: list[list[Path] | None] = []
    unlisted: list[str] = []
    if slide_lists is not None:
        lists = list(slide_lists)
        if len(lists) != len(id_list):
            raise ValueError(
                f"slide_lists has {len(lists)} entries for {len(id_list)} patients; give one "
                "entry (';'-separated slide names, or None) per patient"
            )
        owner: dict[str, int] = {}
        for i, value in enumerate(lists):
            paths = []
            for name in _slide_names(value):
                key = next((k for k in (name, _strip_slide_suffix(name)) if k in files), None)
                if key is None:
                    unlisted.append(name)
                    continue
                first = owner.setdefault(key, i)
                if first != i:
                    raise ValueError(
                        f"slide {key!r} is listed for two patients, {id_list[first]!r} and "
                        f"{id_list[i]!r}{f' in {slide_col!r}' if slide_col else ''}; a slide "
                        "belongs to one patient: fix the slide list of one of them"
                    )
                if key not in used:
                    used.add(key)
                    paths.append(files[key])
            bags.append(paths or None)
        how = f"slide column {slide_col!r}" if slide_col else "slide lists"
    else:
        position = {pid: i for i, pid in reversed(list(enumerate(id_list)))}
        per_patient: dict[int, list[Path]] = {}
        for stem in sorted(files):
            cuts = [k for k in range(len(stem), 0, -1) if k == len(stem) or not stem[k].isalnum()]
            found = next((position[stem[:k]] for k in cuts if stem[:k] in position), None)
            if found is not None:
                per_patient.setdefault(found, []).append(files[stem])
                used.add(stem)
        bags = [per_patient.get(i) for i in range(len(id_list))]
        how = "patient ID prefix of the feature-file names"
    return SlideMatch(bags=bags, how=how, unlisted=unlisted, unused=len(files) - len(used))


def slide_column(frame: Any, slide_col: str | None) -> str | None:
    """The slide column of ``frame`` to use: the one given (must exist), else ``slide_ids`` if present.

    Examples
    --------
    >>> import pandas as pd
    >>> slide_column(pd.DataFrame({"id": [1], "slide_ids": ["s1"]}), None)
    'slide_ids'
    >>> slide_column(pd.DataFrame({"id": [1]}), None) is None
    True
    """
    if slide_col is None:
        return SLIDE_COLUMN if SLIDE_COLUMN in frame.columns else None
    if slide_col not in frame.columns:
        cols = [str(c) for c in frame.columns[:20]]
        raise ValueError(
            f"slide_col {slide_col!r} is not a column of the table (columns {cols}"
            f"{' ...' if len(frame.columns) > 20 else ''}); name the column that lists each "
            "patient's slides, or leave slide_col out to match feature files by id_col prefix"
        )
    return slide_col


def match_table_slides(
    frame: Any,
    features_dir: str | Path,
    *,
    id_col: str | None = None,
    ids: Sequence[Any] | None = None,
    slide_col: str | None = None,
) -> SlideMatch:
    """Match the patients (rows) of a table to the feature files of a folder.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    features_dir : str or Path
        Folder of feature files (see :func:`find_feature_files`).
    id_col : str, optional
        Patient ID column; feature files are matched to its values by prefix when
        the table has no slide column.
    ids : sequence, optional
        Patient IDs, one per row, instead of ``id_col``.
    slide_col : str, optional
        Column listing each patient's ``;``-separated slide file names (default:
        ``slide_ids`` when the table has it).

    Returns
    -------
    SlideMatch
        ``bags`` in the row order of ``frame``.

    Raises
    ------
    ValueError
        If neither a slide column nor patient IDs tell which slide is whose, or
        a slide is listed for two patients.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("s1.h5", "s2.h5", "s3.h5"):
    ...     _ = (d / name).write_bytes(b"")
    >>> table = pd.DataFrame({"patient": ["A", "B"], "slide_ids": ["s1.svs;s2.svs", "s3.svs"]})
    >>> m = match_table_slides(table, d)
    >>> [[p.name for p in b] for b in m.bags], m.how
    ([['s1.h5', 's2.h5'], ['s3.h5']], "slide column 'slide_ids'")
    """
    files = find_feature_files(features_dir)
    col = slide_column(frame, slide_col)
    if ids is None and id_col is not None:
        if id_col not in frame.columns:
            raise ValueError(f"id_col {id_col!r} is not a column of the table")
        ids = frame[id_col].astype(str).tolist()
    if col is None and ids is None:
        raise ValueError(
            f"cannot tell which slides belong to which patient: the table has no "
            f"{SLIDE_COLUMN!r} column; pass id_col (feature files named after the patient ID, "
            "e.g. TCGA-A1-A0SB-01Z-00-DX1.h5) or slide_col"
        )
    id_list = list(ids) if ids is not None else [str(i) for i in range(len(frame))]
    lists = None if col is None else frame[col].tolist()
    return match_slides(id_list, files, lists, slide_col=col or "")
