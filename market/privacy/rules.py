"""The ID documents a volunteer may be recorded with, and how a recorded number is shown
masked (``market.privacy.identity`` checks and keeps them).

Pure, no database.
"""

#: The ID documents a volunteer may be recorded with, and their names on a certificate.
ID_TYPES = {
    "resident_id": "居民身份证",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "passport": "护照",
    "foreign_permanent": "外国人永久居留身份证",
}
#: English names, for the pages' English catalogue.
ID_TYPES_EN = {
    "resident_id": "Resident identity card",
    "hk_macao_permit": "Mainland travel permit (Hong Kong / Macao)",
    "taiwan_permit": "Mainland travel permit (Taiwan)",
    "passport": "Passport",
    "foreign_permanent": "Foreign permanent residence ID card",
}


def mask_number(number: str | None) -> str | None:
    """110***********1234: the first three and last four characters of a long number; of a
    short one, the first and the last."""
    if not number:
        return None
    if len(number) >= 10:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    if len(number) <= 2:
        return "*" * len(number)
    return number[0] + "*" * (len(number) - 2) + number[-1]
