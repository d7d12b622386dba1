"""Operations the call centre refuses; the AMI actions map each to Asterisk's message."""

from __future__ import annotations


class ModelError(Exception):
    """An operation the call centre refuses."""


class NoSuchQueue(ModelError):
    """The queue does not exist."""


class MemberExists(ModelError):
    """The interface is already a member of the queue."""


class NotAMember(ModelError):
    """The interface is not a member of the queue."""


class NotDynamic(ModelError):
    """Only members added at run time can be removed."""


class InterfaceNotFound(ModelError):
    """No queue (or not the given one) has this interface."""


class InvalidArgument(ModelError):
    """A value is out of range."""


class NoSuchChannel(ModelError):
    """No live channel has this name."""


class NotSimulated(ModelError):
    """Asterisk would do it, the simulator does not (e.g. hanging up a queue call's channel)."""
