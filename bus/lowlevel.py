"""The low-level API: delivery and the wire, for building transports and event logs.

* :class:`AddressBook` — the transport seam: how the bus delivers to named actors;
  :class:`InProcessAddressBook` is the default (this process's Pykka actors).
* :class:`Envelope` — an event with the span context it travels under;
  :class:`EventSink` — what ``EventBus(event_log=...)`` takes (a
  :class:`memory.EventLog` is one).
* :func:`to_wire`, :func:`from_wire`, :func:`traceparent` — an envelope's W3C Trace
  Context in and out of the event's ``traceparent``/``tracestate`` fields;
  :func:`read_stored_event` — a stored event back, whatever version wrote it.
* :func:`to_cloudevent`, :func:`write_cloudevent`, :func:`read_cloudevent` — events
  as CloudEvents 1.0 (JSON event format) in and out of messages with headers;
  :func:`cloudevent_fields` — a stored CloudEvent's fields, for
  :func:`read_stored_event`.
* :class:`Subjects` — the NATS subjects, stream and consumers of a namespace, and the
  permissions a worker needs (:meth:`Subjects.worker_permissions`); :func:`token` — a
  name as one NATS subject token (for stores naming their subjects);
  :func:`nats_attribute` — a package's names that need nats-py, imported on first use.
"""

from ._address_book import AddressBook as AddressBook
from ._address_book import InProcessAddressBook as InProcessAddressBook
from ._cloudevents import cloudevent_fields as cloudevent_fields
from ._cloudevents import read_cloudevent as read_cloudevent
from ._cloudevents import to_cloudevent as to_cloudevent
from ._cloudevents import write_cloudevent as write_cloudevent
from ._envelope import Envelope as Envelope
from ._nats_subjects import Subjects as Subjects
from ._nats_subjects import token as token
from ._optional import nats_attribute as nats_attribute
from ._parse import read_stored_event as read_stored_event
from ._sink import EventSink as EventSink
from ._tracing import from_wire as from_wire
from ._tracing import to_wire as to_wire
from ._tracing import traceparent as traceparent

__all__ = [
    "AddressBook",
    "Envelope",
    "EventSink",
    "InProcessAddressBook",
    "Subjects",
    "cloudevent_fields",
    "from_wire",
    "nats_attribute",
    "read_cloudevent",
    "read_stored_event",
    "to_cloudevent",
    "to_wire",
    "token",
    "traceparent",
    "write_cloudevent",
]
