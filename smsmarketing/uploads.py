"""A ceiling on uploaded files, enforced while the request body is read.

Django streams uploads to temporary files with no size limit of its own (its
``DATA_UPLOAD_MAX_MEMORY_SIZE`` excludes files). ``SizeLimitUploadHandler`` runs first
in ``FILE_UPLOAD_HANDLERS``: a body larger than ``SMS_IMPORT_MAX_BYTES`` is read and
discarded without storing a byte, and the request is marked ``upload_too_large`` so
the view can answer with a clear message (``upload_too_large_message``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

# Multipart framing and the other form fields around the file.
ENVELOPE_BYTES = 64 * 1024


def upload_limit() -> int:
    return settings.SMS_IMPORT_MAX_BYTES


def upload_too_large_message() -> str:
    megabytes = upload_limit() // (1024 * 1024)
    message = _("文件超过 {mb} MB 的上限，未导入任何数据。请拆分成多个较小的文件后分别导入。")
    return message.format(mb=megabytes)


class SizeLimitUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        self.too_large = content_length > upload_limit() + ENVELOPE_BYTES
        if self.too_large:
            self.request.upload_too_large = True

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.too_large:
            # Caught by Django's parser: the rest of the body is read and dropped.
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > upload_limit():
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None
