"""Schemas shared by every router: the error body and a page of a cursor-paginated list."""

from __future__ import annotations

from typing import Generic, TypeVar

from ninja import Field, Schema

Item = TypeVar("Item")


class ErrorOut(Schema):
    code: str = Field(..., description="稳定的错误编号，如 VALIDATION、NOT-FOUND 或规则编号 TPL-ADLAW")
    message: str = Field(..., description="中文说明")


class ErrorItem(Schema):
    loc: list[str | int] = Field(..., description='出错的位置，如 ["body", "items", 3, "phone"]')
    message: str = Field(..., description="中文说明")


class ValidationErrorOut(ErrorOut):
    errors: list[ErrorItem] = Field(default_factory=list, description="逐项的错误")


class Page(Schema, Generic[Item]):
    items: list[Item] = Field(..., description="本页的对象")
    next: str | None = Field(
        None, description="下一页的游标；为空表示没有更多。下一页请求时作为 cursor 参数传回"
    )


# The error answers every authenticated endpoint may give (add an endpoint's own on top).
COMMON_ERRORS = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut}
