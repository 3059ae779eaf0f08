"""Where an item-stage input came from: its kind of topic and its partition.

In memory a source is a :class:`Source` ``(kind, partition)``; on the wire (the ``source``
of a transitions :class:`~stream.transitions.Entry`) and in window records' marks
(:mod:`stream.metrics`) it is the short tag ``kind + partition``, e.g. ``"f3"`` for
partition 3 of ``gov.feedback``. :meth:`Source.encode` and :meth:`Source.decode` are the
only two places that spell or read that tag.

The unit stage keeps tags as strings: it reads ~20,000 entries a second and only compares
and stores their tags, so decoding each one would cost without telling it anything.
"""

from __future__ import annotations

from typing import NamedTuple


class Source(NamedTuple):
    """One source topic-partition of the item stage.

    Args:
        kind: the message kind, one letter: ``f`` feedback, ``t`` tasks, ``k`` deadline
            ticks (:data:`stream.stages.items.FEEDBACK`, ``TASKS``, ``TICKS``).
        partition: the partition of that topic.
    """

    kind: str
    partition: int

    def encode(self) -> str:
        """The wire tag: ``kind + partition`` (``Source("f", 3)`` → ``"f3"``)."""
        return f"{self.kind}{self.partition}"

    @classmethod
    def decode(cls, tag: str) -> Source:
        """Read a wire tag written by :meth:`encode`.

        Raises:
            ValueError: ``tag`` is not a kind letter followed by a partition number.
        """
        kind, partition = tag[:1], tag[1:]
        if not kind.isalpha() or not (partition.isascii() and partition.isdigit()):
            raise ValueError(f"source tag {tag!r} is not a kind letter followed by a partition number")
        return cls(kind, int(partition))
