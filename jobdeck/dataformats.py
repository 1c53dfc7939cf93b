"""Dataset file formats: their names, how a file name tells them, and their media types.

Pure data, shared by the API (uploads), the job inputs and the conversion activities.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePath


class DatasetFormat(StrEnum):
    CSV = "csv"  # comma-separated (any dialect: the delimiter is detected or given)
    TSV = "tsv"  # tab-separated
    JSON = "json"  # one JSON array of objects
    JSONL = "jsonl"  # one JSON object per line (also OpenAI fine-tuning files)
    PARQUET = "parquet"
    XLSX = "xlsx"  # an Excel workbook; one sheet is read


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    OPENAI_CHAT = "openai-chat"  # JSONL of {"messages": [{"role", "content"}, ...]}

    @property
    def dataset_format(self) -> DatasetFormat:
        """The format of the file this output is stored as."""
        if self is OutputFormat.OPENAI_CHAT:
            return DatasetFormat.JSONL
        return DatasetFormat(self.value)


_EXTENSIONS = {
    ".csv": DatasetFormat.CSV,
    ".tsv": DatasetFormat.TSV,
    ".tab": DatasetFormat.TSV,
    ".json": DatasetFormat.JSON,
    ".jsonl": DatasetFormat.JSONL,
    ".ndjson": DatasetFormat.JSONL,
    ".parquet": DatasetFormat.PARQUET,
    ".pq": DatasetFormat.PARQUET,
    ".xlsx": DatasetFormat.XLSX,
}

MEDIA_TYPES = {
    DatasetFormat.CSV: "text/csv",
    DatasetFormat.TSV: "text/tab-separated-values",
    DatasetFormat.JSON: "application/json",
    DatasetFormat.JSONL: "application/jsonl",
    DatasetFormat.PARQUET: "application/vnd.apache.parquet",
    DatasetFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def format_from_name(filename: str) -> DatasetFormat | None:
    """The format a file name's extension names, if any."""
    return _EXTENSIONS.get(PurePath(filename).suffix.lower())


def extension(fmt: DatasetFormat) -> str:
    return f".{fmt.value}"
