"""What users read when something is refused: one catalog, keyed by reason, in Chinese and English.

Chinese is the default; English is used when ``Accept-Language`` prefers it.
Texts may use ``{placeholders}`` filled from the error's parameters.
"""

from typing import Literal

Language = Literal["zh", "en"]

#: reason → (Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # -- requests ------------------------------------------------------------------
    "invalid_input": ("提交的内容有误：{field}", "Invalid input: {field}"),
    "invalid_character": (
        "提交的内容含有无法保存的字符（如空字符）：{field}",
        "The input holds a character that cannot be stored (such as NUL): {field}",
    ),
    "out_of_range": ("提交的数值超出了可以保存的范围", "A number in the input is larger than can be stored"),
    "invalid_name": ("姓名须为 1–50 个字", "The name must be 1–50 characters long"),
    "invalid_phone": ("请输入正确的 11 位手机号", "Enter a valid 11-digit mainland mobile number"),
    "invalid_roles": (
        "角色须从居民、组织者、店员、管理员中选择，且至少选一个",
        "Roles must be chosen from resident, organizer, shopkeeper and admin (at least one)",
    ),
    "password_required": ("工作人员账号需要设置密码", "Staff accounts need a password"),
    "password_too_short": ("密码至少需要 8 位", "The password must be at least 8 characters"),
    "password_too_long": ("密码不能超过 128 位", "The password must be at most 128 characters"),
    "pin_required": ("居民账号需要设置 6 位数字密码", "Residents need a 6-digit PIN"),
    "invalid_pin": ("数字密码须为 6 位数字", "The PIN must be exactly 6 digits"),
    "weak_pin": (
        "数字密码太容易被猜到，请换一个（不要用相同数字、123456 或手机号后六位）",
        "That PIN is too easy to guess; choose another (not all one digit, 123456 "
        "or the phone's last six digits)",
    ),
    "invalid_cursor": (
        "分页参数无效，请从第一页重新查询",
        "Invalid page cursor; start again from the first page",
    ),
    "idempotency_key_required": (
        "缺少请求头 Idempotency-Key，无法保证不重复记账",
        "The Idempotency-Key header is required, so a retry cannot move points twice",
    ),
    "invalid_idempotency_key": (
        "Idempotency-Key 须为 1–100 个可见字符",
        "The Idempotency-Key must be 1–100 printable characters",
    ),
    "too_large": ("提交的内容太大", "The request is too large"),
    "bad_request": ("请求无效", "Bad request"),
    # -- signing in and permissions ------------------------------------------------
    "bad_credentials": ("账号或密码不正确", "Wrong login or password"),
    "not_signed_in": ("请先登录", "Please sign in first"),
    "forbidden": ("您没有权限进行此操作", "You are not allowed to do this"),
    "csrf": (
        "页面已过期或请求来源不可信，请刷新页面后重试",
        "Missing or wrong CSRF token; reload the page and try again",
    ),
    "too_many_attempts": (
        "尝试次数过多，请 {retry_after} 秒后再试",
        "Too many attempts; try again in {retry_after} seconds",
    ),
    # -- resources -------------------------------------------------------------------
    "not_found": ("找不到该内容", "Not found"),
    "page_not_found": (
        "找不到这个页面：链接可能有误或已失效",
        "There is no such page: the link may be mistyped or out of date",
    ),
    # -- community slugs (market.community.slugs) -------------------------------------
    "invalid_slug": (
        "网址名只能用小写字母、数字和连字符（-），须含字母，且不能以连字符开头或结尾",
        "The address name may hold only lower-case letters, digits and hyphens (-), must hold "
        "a letter, and cannot begin or end with a hyphen",
    ),
    "invalid_slug_length": (
        "网址名须为 {min}–{max} 个字符", "The address name must be {min}–{max} characters"
    ),
    "slug_taken": (
        "该网址名已被其他社区使用（或曾经使用），请换一个",
        "That address name is (or was) used by another community; choose another",
    ),
    "invalid_community_name": (
        "社区名称须为 1–100 个字", "The community's name must be 1–100 characters long",
    ),
    # -- delegates, 代办 (market.people.delegates) ------------------------------------------
    "not_delegable": (
        "代办人不能替长辈做这件事（只能查看积分、出示会员码、预订商品）",
        "A delegate cannot do this for the resident "
        "(only see points, show the member code, reserve goods)",
    ),
    "not_your_elder": ("您不是这位居民的代办人", "You are not a delegate of this resident"),
    "delegate_not_resident": (
        "代办双方都须是本社区的居民", "Both sides of a delegation must be residents here",
    ),
    "delegate_self": ("不能让居民给自己代办", "A resident cannot be their own delegate"),
    "delegate_exists": ("这位代办人已经可以为该居民代办", "This delegate can act for the resident already"),
    "not_shared": (
        "该居民来自本街道的另一个社区，街道尚未开通积分通存通兑",
        "This resident belongs to another community of the subdistrict, which has not turned on"
        " shared redemption",
    ),
    "invalid_subdistrict_name": (
        "街道名称须为 1–40 个字", "The subdistrict's name must be 1–40 characters long",
    ),
    "community_in_other_subdistrict": (
        "社区 {community_id} 已属于另一个街道", "Community {community_id} belongs to another subdistrict",
    ),
    "subdistrict_not_found": ("没有这个街道", "There is no such subdistrict"),
    "subdistrict_empty": ("街道至少要包含一个社区", "A subdistrict groups at least one community"),
    "subdistrict_name_taken": ("已有同名的街道", "Another subdistrict has that name"),
    "admin_of_other_subdistrict": (
        "此人已是另一个街道的管理员", "This person administers another subdistrict already",
    ),
    "invalid_month": ("月份格式应为 YYYY-MM，如 2026-12", "The month is written YYYY-MM, e.g. 2026-12"),
    # -- moving house (搬家) between communities of one subdistrict ------------------------------
    "not_same_subdistrict": (
        "只能迁往本街道的其他社区", "A resident can only move to another community of this subdistrict",
    ),
    "move_to_same_community": ("居民已经在这个社区了", "The resident lives in this community already"),
    "move_pending": (
        "这位居民已有一项待审核的迁出申请", "This resident has a move waiting for a decision already",
    ),
    "move_not_pending": ("这项迁出申请已经处理过了", "This move has been decided already"),
    "move_staff": (
        "此人有工作人员角色：请先取消其工作人员角色，再办理迁出",
        "This person has a staff role: take the staff roles away before moving them",
    ),
    "move_phone_taken": (
        "迁入社区已有人用这个手机号登记", "Someone in the new community is registered with this phone number",
    ),
    "move_person_changed": (
        "这位居民的情况已有变化（不再是迁出社区的居民），申请无法办理",
        "The resident is no longer of the community they were to move out of: the move cannot go ahead",
    ),
    "open_reservations": (
        "这位居民还有未取货的预订或待公示的积分：请先处理完，再批准迁入",
        "The resident has reservations not yet collected or points waiting for publicity: settle them"
        " before approving the move",
    ),
    "setup_token_invalid": (
        "设置链接不对：请使用运行 market serve 的终端里打印的完整链接",
        "This set-up link is wrong: use the whole link printed on the console running market serve",
    ),
    "setup_done": (
        "已经有管理员了，设置链接不再有效；请直接登录",
        "An admin exists already, so the set-up link no longer works; sign in instead",
    ),
    "method_not_allowed": ("不支持此请求方法", "Method not allowed"),
    "phone_taken": ("该手机号已在本社区登记", "This phone number is already registered in this community"),
    # -- community structure and the roster (台账) ---------------------------------------
    "invalid_structure_name": ("名称须为 1–50 个字", "The name must be 1–50 characters long"),
    "invalid_address": (
        "单元须为 0–20 个字，房号须为 1–20 个字",
        "The unit must be at most 20 characters and the room 1–20 characters",
    ),
    "name_taken": ("该名称已被使用", "That name is already in use"),
    "address_taken": (
        "该户（楼栋、单元、房号）已登记", "That household (building, unit, room) already exists"
    ),
    "archived": (
        "该项已归档，请先恢复再使用",
        "That item is archived; restore it before using it",
    ),
    "unsupported_file": (
        "请上传 .xlsx 或 .csv 格式的台账文件（.xls 请先另存为 .xlsx）",
        "Upload the roster as an .xlsx or .csv file (save an .xls file as .xlsx first)",
    ),
    "unreadable_file": (
        "无法读取该文件，请确认它是完好的 .xlsx 或 .csv 文件",
        "The file cannot be read; make sure it is an intact .xlsx or .csv file",
    ),
    "file_too_large": ("文件不能超过 {max_mb} MB", "The file must be at most {max_mb} MB"),
    "file_unpacks_too_large": (
        "表格解压后超过 {max_mb} MB，不像是居民名单；请只保留名单所在的工作表后再上传",
        "The spreadsheet unpacks to more than {max_mb} MB, too much for a roster; keep only the "
        "roster's sheet and upload it again",
    ),
    "too_many_rows": ("台账不能超过 {max_rows} 行", "The roster may have at most {max_rows} rows"),
    "empty_roster": ("台账中没有居民数据", "The roster contains no residents"),
    "missing_columns": (
        "台账缺少必填列：{columns}",
        "The roster is missing required columns: {columns}",
    ),
    "invalid_rows": (
        "台账中有 {count} 处错误，未导入任何数据，请修改后重新上传",
        "The roster has {count} problems; nothing was imported. Fix them and upload it again",
    ),
    "roster_conflict": (
        "导入期间有人登记了台账中的手机号，未导入任何数据，请重新导入",
        "Someone registered a phone of the roster during the import; nothing was imported, "
        "import it again",
    ),
    "import_interrupted": (
        "处理这份台账的服务器中途停止了，导入没有完成。请点击“重新开始”：已导入的人员不会重复导入",
        "The server working on this roster stopped before it finished. Start it again: "
        "nobody already imported is imported twice",
    ),
    "no_community": (
        "还没有社区，请先用 market admin create 创建",
        "There is no community yet; create one with market admin create",
    ),
    "community_not_found": ("找不到该社区", "No such community"),
    # the points policy (issue 15)
    "invalid_moment": (
        "时间格式不对，请写成 2026-01-01T00:00:00+08:00",
        "Not a moment; write it as 2026-01-01T00:00:00+08:00",
    ),
    "invalid_expiry": (
        "有效期只能是：不过期、当年年底清零，或 1 到 120 个月",
        "Expiry is none, the calendar year, or 1 to 120 months",
    ),
    "invalid_publicity_days": ("公示期为 0 到 30 个工作日", "The 公示 window is 0 to 30 working days"),
    "invalid_cap": ("{field} 应在 0 到 1000000 积分之间", "{field} must be 0 to 1,000,000 points"),
    "cap_day_over_month": (
        "每日上限不能大于每月上限", "The daily cap cannot be more than the monthly cap"
    ),
    # 公示 and caps on earning (issue 15, market.points.publicity, lots.earn_steps)
    "cap_reached": (
        "已达本社区每日或每月获得积分的上限，超出部分不计入",
        "The community's daily or monthly cap on earning is reached; points beyond it are not credited",
    ),
    "notice_settled": (
        "这笔积分的公示已结束，无法再提出异议", "This credit's 公示 is over; it can no longer be objected to"
    ),
    "notice_window_closed": (
        "公示期已过，无法再提出异议", "The 公示 window has ended; objections are closed"
    ),
    "notice_not_frozen": (
        "这笔积分没有待处理的异议，无需决定", "This credit has no objection waiting for a decision"
    ),
    # households and gifts (issue 15, market.points.gifts)
    "gift_not_allowed": ("本社区暂未开放积分赠送", "Giving points is not open in this community"),
    "gift_household_only": (
        "按本社区的规定，积分只能赠送给本户的家庭成员",
        "By this community's rules, points may only be given to members of your own household",
    ),
    "gift_to_self": ("不能把积分赠送给自己", "You cannot give points to yourself"),
    "gift_cap_exceeded": (
        "超出每月赠送上限：本月还可以赠送 {left} 积分（每月最多 {cap} 积分）",
        "Over the monthly gift cap: you can give {left} more points this month (at most {cap} a month)",
    ),
    "gift_receiver_not_found": (
        "没有找到这张会员卡（或会员码）对应的本社区居民，请核对后再试",
        "No resident of this community has that member card number (or code); check it and try again",
    ),
    # earning categories and the policy page (issue 15, pages)
    "invalid_category_name": (
        "积分类别名称须为 1–20 个字", "A category's name must be 1–20 characters long"
    ),
    "category_name_taken": (
        "已有同名的积分类别（含已停用的）", "There is already a category of that name (archived ones too)"
    ),
    "invalid_category_rate": (
        "{field} 须为 0 到 1000 之间的积分，最多两位小数",
        "{field} must be 0 to 1,000 points with at most two decimals",
    ),
    "invalid_category_description": (
        "说明不能超过 200 个字", "The description must be at most 200 characters"
    ),
    "too_many_categories": (
        "积分类别已达 200 个上限，请修改或停用已有的类别",
        "The community has 200 categories, the most it may keep; change or archive one",
    ),
    "invalid_holiday": (
        "节假日请写成 2026-10-01 这样的日期", "Write a holiday as a date like 2026-10-01"
    ),
    "invalid_expiry_months": (
        "有效月数须为 1 到 120 之间的整数", "The months must be a whole number from 1 to 120"
    ),
    "invalid_cap_text": (
        "{field} 须为积分数（最多两位小数），不设上限请留空",
        "{field} must be a number of points (at most two decimals); leave it empty for no cap",
    ),
    # deductions, suspensions and appeals (issue 15, market.points.deductions, .appeals)
    "invalid_rule_name": ("扣分项名称须为 1–50 个字", "A deduction rule's name must be 1–50 characters long"),
    "invalid_deduction_amount": (
        "扣分须为 0.01 到 1000000 积分，最多两位小数",
        "A deduction must be 0.01 to 1,000,000 points with at most two decimals",
    ),
    "invalid_suspension": (
        "暂停兑换只能是：不暂停、当年和次年，或 1 到 60 个月",
        "A suspension is none, this year and the next, or 1 to 60 months",
    ),
    "too_many_rules": (
        "扣分项已达 {max} 个上限，请修改或归档已有的扣分项",
        "The community has {max} deduction rules, the most it may keep; change or archive one",
    ),
    "rule_or_amount": (
        "请选择一个扣分项或填写扣分数额（二者选一）",
        "Choose a deduction rule or give an amount (one of the two)",
    ),
    "invalid_deduction_reason": (
        "请填写扣分原因（不超过 {max} 个字；选了扣分项时可不填）",
        "Give the reason (at most {max} characters; optional with a rule)",
    ),
    "invalid_suspend_until": (
        "暂停兑换的截止日期须在今天到十年之内",
        "The suspension's last day must be between today and ten years from now",
    ),
    "redemption_suspended": (
        "该居民的积分兑换已暂停至 {until}（{why}）",
        "This resident may not redeem points until {until} ({why})",
    ),
    "suspension_lifted": ("该暂停已经解除", "That suspension was already lifted"),
    "transfer_or_deduction": (
        "请指明要申诉的扣分记录（transfer_id 或 deduction_id，二者选一）",
        "Name the deduction to appeal (transfer_id or deduction_id, one of the two)",
    ),
    "invalid_appeal_reason": ("申诉理由须为 1–{max} 个字", "The appeal's reason must be 1–{max} characters"),
    "appeal_open": (
        "这笔扣分已有一份申诉正在处理，请等待结果",
        "This deduction already has an appeal being considered; wait for its outcome",
    ),
    "deduction_reversed": (
        "这笔扣分的申诉已经成立并已撤销，无需再申诉",
        "An appeal against this deduction was upheld and it was reversed; nothing is left to appeal",
    ),
    "appeal_not_open": ("该申诉已经处理过", "That appeal has already been decided"),
    "invalid_decision_note": (
        "驳回申诉时须填写说明（不超过 {max} 个字）",
        "Rejecting an appeal needs a note saying why (at most {max} characters)",
    ),
    # reasons of single roster rows
    "missing_name": ("姓名不能为空", "The name is missing"),
    "missing_phone": ("手机号不能为空", "The phone number is missing"),
    "duplicate_phone": (
        "手机号与第 {first} 行重复",
        "The phone number repeats the one in row {first}",
    ),
    "too_long": ("「{column}」不能超过 {max} 个字", "“{column}” must be at most {max} characters"),
    "unprintable": ("「{column}」含有无法识别的字符", "“{column}” contains unreadable characters"),
    "incomplete_address": (
        "填写了住址或网格时，小区、楼栋和房号都须填写",
        "With an address or a grid, the compound, building and room are all required",
    ),
    "grid_conflict": (
        "同一户在第 {first} 行填写了不同的网格",
        "Row {first} puts the same household in a different grid",
    ),
    "archived_in_roster": (
        "「{column}」中的“{value}”已归档",
        "“{value}” in “{column}” is archived",
    ),
    # -- points (the ledger's reasons) -----------------------------------------------
    "insufficient_points": ("积分不足", "Not enough points"),
    "invalid_amount": (
        "积分数额无效：须为非零数字，最多两位小数",
        "Invalid amount: it must be a non-zero number with at most two decimal places",
    ),
    "id_conflict": (
        "该 Idempotency-Key 已用于另一笔不同的请求",
        "This Idempotency-Key was already used for a different request",
    ),
    "account_not_found": ("找不到该积分账户", "Points account not found"),
    "invalid_transfer": ("无效的积分操作", "Invalid points operation"),
    "ledger_mismatch": ("不能在不同社区的账户之间转移积分", "Points cannot move between communities"),
    "transfer_not_found": ("找不到该笔积分记录", "Points transfer not found"),
    "hold_not_pending": ("该笔冻结积分已处理过", "That hold was already settled"),
    "hold_expired": ("该笔冻结积分已过期", "That hold has expired"),
    "not_reversible": ("该笔积分记录不能撤销", "That transfer cannot be reversed"),
    "ledger_error": ("积分操作未能完成", "The points operation could not be completed"),
    # -- personal data ---------------------------------------------------------------
    "cannot_erase_self": (
        "不能注销自己的账号，请由本社区另一位管理员操作",
        "You cannot erase your own account; ask another admin of the community",
    ),
    # -- member codes, cards, PINs and roles (market.cards, market.people.roles_*) ------
    "invalid": ("二维码无效，请重新扫描", "The code is not valid; scan it again"),
    "expired": ("二维码已过期，请刷新后重新出示", "The code has expired; refresh it and show it again"),
    "revoked": ("该卡或二维码已停用", "This card or code is no longer valid"),
    "gone": ("该内容已失效", "This is no longer valid"),
    "person_erased": ("该居民的个人信息已删除", "This resident's personal data has been erased"),
    "not_resident": ("只有居民才能设置数字密码", "Only residents have a PIN"),
    # -- one-time codes and PIN slips (market.auth.access_codes) ---------------------
    "bad_access_code": (
        "卡号（或手机号）或一次性码不正确，请对照凭条再输入一次",
        "Wrong card number (or phone) or one-time code; check the slip and try again",
    ),
    "access_code_used": (
        "这个一次性码已经用过了，请用您设置的数字密码登录；忘记了请到社区办公室领取新凭条",
        "This one-time code was already used. Sign in with the PIN you set, or ask the office for a new slip",
    ),
    "access_code_expired": (
        "这个一次性码已过期，请到社区办公室领取新凭条",
        "This one-time code has expired; ask the community office for a new slip",
    ),
    "access_code_voided": (
        "这个一次性码已作废（办公室已补发了新凭条），请使用最新的凭条",
        "This one-time code was replaced by a newer slip; use the newest one",
    ),
    "pin_change_required": (
        "请先设置新的 6 位数字密码，然后才能继续使用",
        "Set a new 6-digit PIN first; nothing else is possible until then",
    ),
    "nobody_selected": ("请先勾选至少一个人", "Select at least one person first"),
    "too_many_selected": ("一次最多选择 {max} 人", "Select at most {max} people at a time"),
    "no_role_left": (
        "{name} 只有这一个角色，不能移除（每人至少要有一个角色）",
        "{name} has no other role; everyone keeps at least one",
    ),
    "password_without_staff_role": (
        "只有工作人员（组织者、店员、管理员）才设置密码；请同时勾选一个工作人员角色",
        "Only staff (organizers, shop keepers, administrators) have a password; tick a staff role too",
    ),
    "role_change_invalid": (
        "请选择要添加还是移除，以及哪个角色",
        "Choose whether to add or remove, and which role",
    ),
    "current_pin_required": ("请输入当前的数字密码", "Enter your current PIN"),
    "wrong_pin": ("当前数字密码不正确", "The current PIN is wrong"),
    "last_admin": (
        "不能移除社区最后一位管理员的管理员角色",
        "The community's last admin cannot lose the admin role",
    ),
    # -- activities and check-in (market.activities) ------------------------------------
    "invalid_title": ("活动名称须为 1–100 个字", "The title must be 1–100 characters long"),
    "invalid_category": (
        "活动类别须为自治、集体劳动、志愿服务或本社区的积分类别之一",
        "The category must be self_governance, collective_labour, volunteer_service or one of "
        "the community's earning categories",
    ),
    "invalid_location": ("地点不能超过 100 个字", "The location must be at most 100 characters"),
    "invalid_window": (
        "结束时间须晚于开始时间，且活动不超过 31 天",
        "The end must be after the start, and an activity lasts at most 31 days",
    ),
    "invalid_time": (
        "时间须带时区，例如 2026-11-23T09:00:00+08:00",
        "Times need a time zone, e.g. 2026-11-23T09:00:00+08:00",
    ),
    "invalid_activity_amount": (
        "数值须为不小于 0 的数字，最多两位小数",
        "The value must be a number of at least 0 with at most two decimal places",
    ),
    "invalid_capacity": ("人数上限须为正整数", "The capacity must be a positive whole number"),
    "activity_rate_too_high": (
        "每次参与或每小时的积分不能超过 {max_rate}",
        "Points per participation or per hour may be at most {max_rate}",
    ),
    "search_needed": (
        "请输入姓名，或选择楼栋后再查找",
        "Type a name, or choose a building, then search",
    ),
    "invalid_search": (
        "查找条件太长：姓名最多 50 个字，房号最多 20 个字",
        "The search is too long: a name has at most 50 characters, a room 20",
    ),
    "invalid_reason": ("请填写原因（1–200 个字）", "Give a reason (1–200 characters)"),
    "invalid_direction": ("签到方向须为 in 或 out", "The direction must be in or out"),
    "invalid_audience": (
        "请选择本社区现有（未归档）的志愿服务队、网格或楼栋",
        "Choose a volunteer team, grids or buildings of this community that are not archived",
    ),
    "not_closed": (
        "只有未签退、已自动结束的记录才能手动设置时长",
        "Hours can only be set by hand for a stay closed without a check-out",
    ),
    "already_started": (
        "活动已开始或已有人签到，不能再修改",
        "The activity has started (or someone checked in); it cannot be edited",
    ),
    "activity_cancelled": ("该活动已取消", "This activity has been cancelled"),
    "not_open": ("不在活动签到时间内", "The activity is not open for check-in now"),
    "not_checked_in": ("您还没有签到，不能签退", "You have not checked in, so you cannot check out"),
    "full": ("活动人数已满", "The activity is full"),
    "not_eligible": ("您不在该活动的参与范围内", "This activity is not open to you"),
    # -- the shop: catalogue, stock and photos (market.shop) --------------------------------
    "invalid_product_name": ("商品名称须为 1–50 个字", "The product name must be 1–50 characters long"),
    "invalid_product_category": (
        "商品分类不能超过 30 个字", "The product category must be at most 30 characters"
    ),
    "invalid_price": (
        "价格须为大于 0 的积分数，最多两位小数，且不超过 {max_price} 积分",
        "The price must be more than 0 points, with at most two decimal places, "
        "and at most {max_price} points",
    ),
    "invalid_stock": (
        "库存须为 0 到 {max_stock} 之间的整数", "The stock must be a whole number from 0 to {max_stock}"
    ),
    "invalid_limit": (
        "限购须同时填写每人数量（1–{max_limit} 件）和周期（每天、每周、每月、每季度或每年），或都不填",
        "A purchase limit needs both a quantity per person (1–{max_limit}) and a period "
        "(day, week, month, quarter or year), or neither",
    ),
    "product_exists": ("本社区已有同名商品", "This community already has a product with that name"),
    # -- the counter (market.shop.counter, market.shop.basket) ----------------------
    "card_pin_required": ("刷实体卡兑换须输入该居民的数字密码", "A printed card needs its holder's PIN"),
    "card_pin_not_set": (
        "该居民还没有设置数字密码，请先到管理员处设置，或用手机出示会员码",
        "This resident has no PIN yet: ask an admin to set one, or show the member code on a phone",
    ),
    "wrong_card_pin": ("数字密码不正确", "The PIN is wrong"),
    "empty_basket": ("请至少选择一件商品", "Choose at least one product"),
    "too_many_lines": ("一次最多兑换 {limit} 种商品", "At most {limit} different products at a time"),
    "invalid_quantity": ("每种商品的数量须为 1–{limit} 件", "Each quantity must be 1–{limit}"),
    "duplicate_line": ("同一商品只能出现一次，请合并数量", "List each product once, with its total quantity"),
    "product_unavailable": ("该商品不存在或已下架", "That product does not exist or is no longer sold"),
    "limit_exceeded": (
        "「{name}」每人限兑 {limit} 件，本期还可兑 {remaining} 件",
        "“{name}” is limited to {limit} per person per period; {remaining} left for this period",
    ),
    "refund_too_much": ("退回数量超过了未退的数量（还可退 {remaining} 件）",
                        "That is more than is left to refund ({remaining})"),
    "order_closed": ("这个预订已经处理过了", "This order was already settled"),
    "order_expired": ("这个预订已过领取期限，积分和商品已退回", "This order is past its collection deadline"),
    "already_refunded": ("这笔兑换已全部退回", "Everything of this redemption was already refunded"),
    "out_of_stock": (
        "库存不足：该商品只剩 {available} 件",
        "Not enough stock: only {available} left of this product",
    ),
    "stock_too_high": (
        "库存不能超过 {max_stock} 件", "The stock cannot be more than {max_stock}"
    ),
    "invalid_stock_delta": (
        "数量须为不等于 0 的整数，捐赠和采购须为正数，且不超过 {max_stock}",
        "The quantity must be a whole number other than 0 (positive for donations and "
        "purchases) and at most {max_stock}",
    ),
    "invalid_stock_kind": (
        "库存变动类型须为捐赠、采购或调整", "The kind must be donation, purchase or adjustment"
    ),
    "invalid_donor": (
        "捐赠人须为 1–50 个字，且只在捐赠时填写",
        "The donor must be 1–50 characters, and is given only for donations",
    ),
    "photo_required": ("请选择一张商品照片再上传", "Choose a photo of the product to upload"),
    "invalid_photo": (
        "无法识别这张图片，请上传完好的 JPG、PNG、WebP 或 GIF 照片",
        "This is not a readable picture; upload an intact JPEG, PNG, WebP or GIF photo",
    ),
    "photo_too_large": (
        "照片不能超过 {max_mb} MB，请换一张或压缩后再上传",
        "The photo must be at most {max_mb} MB; choose a smaller one",
    ),
    "photo_too_many_pixels": (
        "照片尺寸太大（超过 {max_megapixels} 百万像素），请缩小后再上传",
        "The photo has too many pixels (more than {max_megapixels} megapixels); shrink it first",
    ),
    # -- opening rules and the day's reconciliation (market.shop.rules, .reconciliation) ----------
    "invalid_open_days": (
        "开放日须从周一到周日（1–7）中选择，至少选一天",
        "Open days must be chosen from 1 (Monday) to 7 (Sunday), at least one",
    ),
    "invalid_shop_time": (
        "时间须写成 小时:分钟，在 00:00 到 24:00 之间，例如 08:30",
        "Times are written HH:MM, from 00:00 to 24:00, for example 08:30",
    ),
    "invalid_shop_hours": ("开门时间须早于关门时间", "The opening time must be before the closing time"),
    "invalid_minimum": (
        "门槛须为 0 到 {max} 之间的数，最多两位小数",
        "A minimum must be a number from 0 to {max}, with at most two decimal places",
    ),
    "shop_closed": (
        "积分超市现在不开放，{when_zh}", "The points shop is closed now. {when_en}"
    ),
    "not_enough_earned": (
        "需要先参加社区活动，{need_zh}后才能兑换。您目前{have_zh}",
        "You can redeem once you have {need_en} at community activities. So far you have {have_en}",
    ),
    "invalid_date": ("日期须写成 年-月-日，例如 2026-11-23", "Write the date as YYYY-MM-DD, e.g. 2026-11-23"),
    "transfer_missing": (
        "{what} {id} 的积分记录 {transfer_id} 在账本中找不到",
        "The ledger has no transfer {transfer_id} for {what} {id}",
    ),
    "transfer_amount_differs": (
        "{what} {id} 记的是 {expected} 积分，账本记录 {transfer_id} 却是 {found} 积分",
        "{what} {id} is for {expected} points, but its transfer {transfer_id} moved {found}",
    ),
    "transfer_accounts_differ": (
        "{what} {id} 的账本记录 {transfer_id} 账户不对：应为 {expected}，实为 {found}",
        "The transfer {transfer_id} of {what} {id} has the wrong accounts: {found} instead of {expected}",
    ),
    "transfer_not_posted": (
        "{what} {id} 的账本记录 {transfer_id} 不是已入账的积分变动（{found}）",
        "The transfer {transfer_id} of {what} {id} is not a posted movement ({found})",
    ),
    "transfer_unaccounted": (
        "账本记录 {transfer_id}（{found} 积分）在居民和超市之间转了积分，但没有对应的兑换或退货",
        "The transfer {transfer_id} ({found} points) moved points between a wallet and the shop, "
        "but no redemption or refund names it",
    ),
    # -- the server ----------------------------------------------------------------------
    "internal": ("服务器出错了，请稍后再试", "Something went wrong on our side; please try again later"),
    "unavailable": ("服务暂时不可用，请稍后再试", "The service is temporarily unavailable"),
    "database_unavailable": (
        "暂时连不上数据库，请稍后再试",
        "The database cannot be reached right now; please try again in a moment",
    ),
    "redis_unavailable": (
        "暂时连不上 Redis（登录保护），请稍后再试",
        "Redis (the sign-in guard) cannot be reached right now; please try again in a moment",
    ),
    # -- reports: exports (台账) ----------------------------------------------------------------
    "invalid_period_date": (
        "日期格式不正确（{field}），请按 年-月-日 填写，例如 2025-04-01",
        "Invalid date ({field}); use year-month-day, for example 2025-04-01",
    ),
    "period_reversed": ("开始日期不能晚于结束日期", "The start date must not be after the end date"),
    "period_too_long": (
        "一次最多导出 {days} 天，请缩短时间范围或分几次导出",
        "An export covers at most {days} days; choose a shorter period or export it in parts",
    ),
    "unknown_export": ("请选择要导出的台账", "Choose one of the exports offered"),
    # -- reports: certificates -------------------------------------------------------------
    "certificate_font_missing": (
        "服务器没有可用的中文字体，暂时无法生成证明，请联系管理员",
        "The server has no Chinese font, so the certificate cannot be printed; please tell the admin",
    ),
    "certificate_no_service": (
        "所选时间内还没有服务时长记录，无法开具证明",
        "There are no service hours in this period, so there is nothing to certify",
    ),
    "certificate_bad_period": (
        "开始日期不能晚于结束日期", "The start date cannot be after the end date",
    ),
    # -- certificates: the national format's identity, issuer and corrections (issue 16) ----
    "invalid_id_type": ("请选择证件类型", "Choose the type of ID document"),
    "id_type_and_number": (
        "证件类型和证件号码要一起填写（都留空则清除）",
        "Fill in both the ID type and its number (leave both empty to clear them)",
    ),
    "invalid_resident_id": (
        "居民身份证号码不正确：应为18位，最后一位是数字或X，请核对",
        "That resident ID number is not valid: it has 18 characters, the last a digit or X; please check it",
    ),
    "invalid_id_number": (
        "证件号码不正确：应为5到{max}位字母或数字",
        "That ID number is not valid: 5 to {max} letters or digits",
    ),
    "invalid_volunteer_number": (
        "全国志愿者编号不正确：应为4到{max}位字母或数字",
        "That volunteer number is not valid: 4 to {max} letters or digits",
    ),
    "invalid_office_name": (
        "负责人、经办人姓名最多{max}个字",
        "The names of the person in charge and the clerk take at most {max} characters",
    ),
    "invalid_office_contact": (
        "联系电话只能包含数字和“-”，例如 028-12345678",
        "The contact phone takes digits and hyphens only, for example 028-12345678",
    ),
    "invalid_correction_text": (
        "请写明哪里有误（最多{max}个字）", "Say what is wrong (at most {max} characters)",
    ),
    "invalid_certificate_number": (
        "证明编号格式不正确，应如 1A2B-3C4D-5E6F-7A8B（可留空）",
        "That certificate number is not valid; it looks like 1A2B-3C4D-5E6F-7A8B (or leave it empty)",
    ),
    "too_many_corrections": (
        "您已有{max}个更正申请在处理中，请等社区答复后再提交",
        "You already have {max} correction requests waiting; please wait for the office's answer",
    ),
    "invalid_correction_note": (
        "驳回时请写明原因（最多{max}个字）", "Give the reason when rejecting (at most {max} characters)",
    ),
    "correction_not_open": ("这个更正申请已经处理过了", "This correction request has already been decided"),
    "invalid_correction_status": ("状态不正确", "Unknown status"),
    # -- operations: market backup and market restore ----------------------------------
    "backup_written": (
        "备份完成：{path}（{size} MB），是一份一致的快照，服务照常运行、写入也不受影响",
        "Backup written: {path} ({size} MB), a consistent snapshot; the server may keep running and writing",
    ),
    "backup_pg_schema": (
        "内容：数据库 {database} 的模式 {schema}", "Contents: schema {schema} of database {database}",
    ),
    "backup_pg_database": ("内容：整个数据库 {database}", "Contents: the whole database {database}"),
    "backup_key_copied": (
        "签名密钥已复制到 {path}。它是机密：有了它就能伪造会员卡、活动二维码和存证签名。请像备份本身一样"
        "妥善保管（只许管理员读取）；恢复时它会被放回数据库旁",
        "The signing key was copied to {path}. It is SECRET: with it anyone can forge member cards, "
        "activity codes and checkpoint signatures. Keep it as safe as the backup itself (readable by the "
        "administrator only); a restore puts it back beside the database",
    ),
    "backup_key_in_environment": (
        "签名密钥是环境变量 MARKET_SECRET_KEY 的值，不在备份里：请另行保管它（机密）。"
        "恢复后的系统必须用同一个值，否则已打印的会员卡、海报二维码和已公布的存证公钥都会失效",
        "The signing key is the value of MARKET_SECRET_KEY and is not in the backup: keep it safe on its "
        "own (it is secret). The restored installation must use the same value, or printed member cards, "
        "poster codes and the published checkpoint keys stop working",
    ),
    "backup_key_missing": (
        "数据库旁没有签名密钥文件 {path}，所以备份里没有密钥",
        "There is no key file at {path}, so the backup holds no signing key",
    ),
    "backup_exists": (
        "{path} 已存在，未做任何改动；请换个文件名，或加 --force 覆盖它",
        "{path} exists already and nothing was changed; choose another name or add --force to overwrite it",
    ),
    "backup_no_database": (
        "找不到数据库文件 {path}（DATABASE_URL 所指的文件）",
        "There is no database file at {path} (the one DATABASE_URL names)",
    ),
    "backup_is_database": (
        "备份不能写在数据库本身或它的密钥文件上：{path}",
        "A backup cannot be written over the database or its key file: {path}",
    ),
    "backup_write_failed": ("无法写入 {path}：{detail}", "Cannot write {path}: {detail}"),
    "backup_not_found": ("找不到备份文件 {path}", "There is no backup file at {path}"),
    "backup_unrecognised": (
        "{path} 不是 market backup 做的备份（既不是 SQLite 数据库文件，也不是 pg_dump 的 custom 格式）",
        "{path} is not a backup made by market backup (neither an SQLite database nor a pg_dump "
        "custom-format archive)",
    ),
    "backup_wrong_engine": (
        "{path} 是 {found} 的备份，而 DATABASE_URL 指向 {engine}；"
        "请把 DATABASE_URL 设为要恢复到的 {found} 数据库",
        "{path} is a {found} backup but DATABASE_URL points at {engine}; set DATABASE_URL to the {found} "
        "database to restore into",
    ),
    "backup_not_market": (
        "{path} 里没有积分超市的数据（没有 community 表）",
        "{path} holds no points market data (it has no community table)",
    ),
    "backup_damaged": (
        "备份文件 {path} 已损坏或不完整，未做任何改动：{detail}",
        "The backup {path} is damaged or incomplete and nothing was changed: {detail}",
    ),
    "restore_onto_itself": (
        "{path} 就是 DATABASE_URL 所指的数据库本身", "{path} is the very database DATABASE_URL names",
    ),
    "restore_not_empty": (
        "目标数据库 {target} 里已有数据，未做任何改动；确定要用备份替换它时加 --force",
        "The target database {target} holds data, so nothing was changed; add --force to replace it "
        "with the backup",
    ),
    "restore_schema_mismatch": (
        "备份里是模式 {found}，而 DATABASE_URL 选的是模式 {wanted}；模式随备份以原名恢复，"
        "请在 DATABASE_URL 里写 ?search_path={found}",
        "The backup holds schema {found} but DATABASE_URL selects schema {wanted}; the schema is restored "
        "under its own name, so put ?search_path={found} in DATABASE_URL",
    ),
    "pg_tool_missing": (
        "找不到 {tool}：请安装 PostgreSQL 客户端工具，版本不低于服务器"
        "（Debian：apt-get install postgresql-client）",
        "{tool} was not found: install the PostgreSQL client tools, no older than the server "
        "(Debian: apt-get install postgresql-client)",
    ),
    "pg_tool_failed": ("{tool} 失败，未完成：{detail}", "{tool} failed: {detail}"),
    "backup_through_pgbouncer": (
        "备份和恢复必须直连 PostgreSQL，不能经过 PgBouncer（pg_dump 和 pg_restore 需要自己的会话），"
        "未做任何改动；请用指向数据库服务器本身端口、不带 ?pgbouncer=1 的 DATABASE_URL 运行",
        "Backups and restores connect to PostgreSQL itself, not through PgBouncer (pg_dump and "
        "pg_restore need a session of their own); nothing was done. Run them with a DATABASE_URL that "
        "names the database server's own port, without ?pgbouncer=1",
    ),
    "restore_done": ("已把 {path} 恢复到 {target}", "Restored {path} into {target}"),
    "restore_key_installed": (
        "签名密钥已放回 {path}（机密，只许管理员读取）",
        "The signing key was put back at {path} (secret, readable by the administrator only)",
    ),
    "restore_key_environment": (
        "签名密钥用环境变量 MARKET_SECRET_KEY，与备份旁的密钥相同",
        "The signing key is MARKET_SECRET_KEY, the same as the key saved beside the backup",
    ),
    "restore_key_not_in_backup": (
        "备份里没有签名密钥：MARKET_SECRET_KEY 必须是原系统的值，否则已打印的会员卡、海报二维码和"
        "已公布的存证公钥都会失效",
        "The backup holds no signing key: MARKET_SECRET_KEY must be the old installation's value, or "
        "printed member cards, poster codes and the published checkpoint keys stop working",
    ),
    "restore_key_differs": (
        "注意：MARKET_SECRET_KEY 与备份旁的密钥 {path} 不同；系统会用 MARKET_SECRET_KEY，"
        "已打印的会员卡、海报二维码和已公布的存证公钥将失效",
        "Warning: MARKET_SECRET_KEY differs from the key saved beside the backup ({path}); the "
        "installation uses MARKET_SECRET_KEY, so printed member cards, poster codes and the published "
        "checkpoint keys stop working",
    ),
    # -- reports: leaderboards and dashboards -------------------------------------------
    "invalid_period": (
        "统计周期无效：period 须为 month、quarter 或 year，at 如 2026-11、2026-Q4 或 2026",
        "Invalid period: period must be month, quarter or year, and at like 2026-11, 2026-Q4 or 2026",
    ),
    # -- reports: transparency (阳光积分) -------------------------------------------------
    "checkpoint_day_passed": (
        "已有 {day} 之后的存证，不能再为 {day} 存证（请检查服务器时间）",
        "A checkpoint after {day} exists already, so none can be made for {day} (check the server's clock)",
    ),
    "no_legacy_chain": (
        "本社区的账本链不是从升级前的共用账本链开始的，没有旧账本链可下载",
        "This community's chain did not start from the shared chain of before the upgrade: "
        "there is no legacy chain to download",
    ),
}


def preferred_language(accept_language: str | None) -> Language:
    """Pick zh or en from an Accept-Language header; Chinese unless English is preferred."""
    best: tuple[float, Language] = (0.0, "zh")
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("zh", "en"):
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as browsers list them in order of preference.
        score = quality - position * 1e-6
        if score > best[0]:
            best = (score, primary)  # type: ignore[assignment]
    return best[1]


def message(reason: str, language: Language, **params: object) -> str:
    """The catalog's text for ``reason``; an unknown reason gets the generic one."""
    zh, en = MESSAGES.get(reason, MESSAGES["bad_request"])
    text = en if language == "en" else zh
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text.split("{")[0].rstrip("：: ")
