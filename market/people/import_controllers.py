"""POST /api/people/import: an admin uploads the community's roster (台账) as .xlsx or .csv."""

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.errors import PayloadTooLarge
from market.people import roster
from market.people.schemas import ImportSummary

#: Room for the multipart envelope around a file of the largest accepted size.
_ENVELOPE = 64 * 1024


@dataclass
class RosterUpload:
    file: UploadFile


class RosterImportController(Controller):
    path = "/people/import"
    tags = ("people",)
    guards = (requires_role(ADMIN),)

    @post(
        "/",
        status_code=200,
        summary="Import residents from a roster file (all or nothing)",
        description=(
            "Multipart field `file`: .xlsx or .csv (UTF-8 or GB18030) with the headers 姓名, 手机号 "
            "and optionally 小区, 楼栋, 单元, 房号, 网格, 志愿服务队. Any bad row: 422 listing "
            "every bad row, nothing imported. People are matched by phone, so importing the same "
            "file again creates no duplicates."
        ),
        request_max_body_size=roster.MAX_BYTES + _ENVELOPE,
    )
    async def upload(
        self,
        data: Annotated[RosterUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        me: NamedDependency[Principal],
        ledger: NamedDependency[Ledger],
        dry_run: Annotated[bool, QueryParameter(description="check and count only")] = False,
    ) -> ImportSummary:
        content = await data.file.read(roster.MAX_BYTES + 1)
        if len(content) > roster.MAX_BYTES:
            raise PayloadTooLarge("file_too_large", max_mb=roster.MAX_BYTES // 2**20)
        # Parsing a spreadsheet is CPU work: off the event loop.
        parsed = await roster.read_off_loop(content, data.file.filename)
        return await roster.import_roster(me.community_id, parsed, ledger=ledger, dry_run=dry_run)
