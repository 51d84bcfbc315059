"""Customer imports: a CSV file checked in the background, confirmed by the merchant, then
imported in batches by a task (``campaigns.services.importing``).

``CustomerImport`` is the job the merchant watches (status, totals, progress);
``CustomerImportChunk`` holds the uploaded bytes until the check has read them (in the
database, so a worker on another host reads them too); ``CustomerImportRow`` holds every
row of the file as the check parsed it, with its problem if any: the preview and the
report page through its rejected rows, and the import merges its valid rows batch by batch.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop

# Why a row of a file is not imported. The ids are part of the interface (the command prints
# them, the pages show them as a small tag); the merchant reads the Chinese text beside them.
BAD_PHONE = "BAD-PHONE"
BAD_DATE = "BAD-DATE"
BAD_AMOUNT = "BAD-AMOUNT"
MISSING_PRODUCT = "MISSING-PRODUCT"
TOO_LONG = "TOO-LONG"
DUPLICATE = "DUPLICATE"

REASON_TEXT = {
    BAD_PHONE: _("手机号格式不正确（需为中国大陆 11 位手机号）"),
    BAD_DATE: _("购买时间格式不正确或晚于现在（格式如 2024-06-18 或 2024-06-18 20:30）"),
    BAD_AMOUNT: _("金额格式不正确（需为不小于 0 的数字，最多两位小数）"),
    MISSING_PRODUCT: _("填写了购买时间或金额，但缺少商品名称"),
    TOO_LONG: _("内容过长（姓名最多 64 字，每个标签最多 32 字，商品名称最多 128 字）"),
    DUPLICATE: _("重复的行（同一手机号、商品和购买时间已在本文件中出现或已导入过）"),
}


ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GBK"}


class CustomerImport(models.Model):
    class Status(models.TextChoices):
        CHECKING = "checking", _("正在检查文件")
        READY = "ready", _("待确认导入")
        IMPORTING = "importing", _("正在导入")
        DONE = "done", _("导入完成")
        FAILED = "failed", _("导入失败")
        CANCELLED = "cancelled", _("已取消")

    RUNNING = (Status.CHECKING, Status.IMPORTING)

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customer_imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(_("文件名"), max_length=255)
    size = models.PositiveBigIntegerField(_("文件大小"), default=0)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.CHECKING)
    encoding = models.CharField(_("文件编码"), max_length=16, blank=True, default="")
    columns = ArrayField(
        models.CharField(max_length=16), verbose_name=_("识别到的列"), default=list, blank=True
    )
    # The check: what the merchant confirms.
    bytes_read = models.PositiveBigIntegerField(default=0)
    rows = models.PositiveIntegerField(_("行数"), default=0)
    valid = models.PositiveIntegerField(_("可导入"), default=0)
    rejected = models.PositiveIntegerField(_("拒绝"), default=0)
    customers = models.PositiveIntegerField(_("客户数"), default=0)
    new_customers = models.PositiveIntegerField(_("新客户数"), default=0)
    purchases = models.PositiveIntegerField(_("购买记录数"), default=0)
    # The import, batch by batch: ``last_line`` is the cursor (the last line merged), moved in
    # the batch's own transaction, so a retried task resumes after it and imports nothing twice.
    last_line = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(_("已导入"), default=0)
    late_duplicates = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField(_("新增客户"), default=0)
    purchases_created = models.PositiveIntegerField(_("新增购买记录"), default=0)
    error = models.TextField(_("失败原因"), blank=True, default="")
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户导入")
        verbose_name_plural = _("客户导入")
        ordering = ["-id"]
        indexes = [models.Index(fields=["shop", "-id"], name="customer_import_shop")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def percent(self) -> int:
        """How far the current step is, 0-100 (the check by bytes read, the import by rows)."""
        if self.status == self.Status.CHECKING:
            return min(99, 100 * self.bytes_read // self.size) if self.size else 0
        if self.status == self.Status.IMPORTING:
            return min(99, 100 * self.rows_done // self.rows) if self.rows else 0
        return 100 if self.status in (self.Status.READY, self.Status.DONE) else 0

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)

    @property
    def rejected_total(self) -> int:
        """Rejected by the check, plus purchases another import added before this one's batch."""
        return self.rejected + self.late_duplicates

    @property
    def figures(self) -> str:
        """The totals the merchant confirmed, carried by the confirmation form."""
        return f"{self.rows}-{self.valid}-{self.rejected}-{self.customers}-{self.purchases}"


class CustomerImportChunk(models.Model):
    """One piece (up to 1 MB) of an uploaded file, kept until the check has read it."""

    job = models.ForeignKey(CustomerImport, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="customer_import_chunk_seq")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq}"


class CustomerImportRow(models.Model):
    """One row of an uploaded file as the check read it. Text columns are unbounded here: a
    rejected row's over-long name is kept (cut) in ``value`` and never reaches ``Customer``."""

    job = models.ForeignKey(CustomerImport, on_delete=models.CASCADE, related_name="+", db_index=False)
    line = models.PositiveIntegerField(_("行号"))
    phone = models.TextField(null=True)
    name = models.TextField(default="")
    tags = ArrayField(models.TextField(), default=list)
    product = models.TextField(null=True)
    purchased_at = models.DateTimeField(null=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    error = models.CharField(max_length=16, null=True)
    value = models.TextField(default="")  # the rejected cell as the merchant typed it

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="customer_import_row_line")]
        indexes = [
            # The preview and the report page through the rejected rows of a job of 200,000 rows.
            models.Index(
                fields=["job", "line"],
                condition=models.Q(error__isnull=False),
                name="customer_import_rejected",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line}"

    @property
    def reason_text(self) -> str:
        return str(REASON_TEXT.get(self.error or "", self.error or ""))
