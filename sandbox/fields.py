"""The keys Sikka returns per endpoint: the default set and the `fields=get_all` set.

Taken from the documented examples (tests/fixtures/sikka-examples), in their order; endpoints without an
example body use the documented field lists (sikka-reference.md), in their order.
"""

from __future__ import annotations

from typing import NamedTuple

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


class Shape(NamedTuple):
    """An endpoint's item keys: returned by default, and with `fields=get_all`."""

    default: tuple[str, ...]
    get_all: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a stored record carries (the union, default order first)."""
        return self.default + tuple(key for key in self.get_all if key not in self.default)

    def select(self, fields: str) -> tuple[str, ...]:
        """The keys for a `fields=` parameter: `get_all`, or extra names added to the default set."""
        if fields == "get_all":
            return self.get_all
        wanted = {name.strip() for name in fields.split(",")}
        return self.default + tuple(key for key in self.get_all if key in wanted and key not in self.default)


def _keys(names: str) -> tuple[str, ...]:
    return tuple(names.split())


def _same(names: str) -> Shape:
    keys = _keys(names)
    return Shape(keys, keys)


def _plus(default: str, extra: str) -> Shape:
    """A shape whose get_all set is the default set followed by `extra`."""
    return Shape(_keys(default), _keys(default) + _keys(extra))


PATIENTS = Shape(
    _keys("""
        href patient_id guarantor_id firstname middlename lastname preferred_name salutation birthdate
        status address_line1 address_line2 city state zipcode cell email first_visit last_visit provider_id
        provider_href practice_id practice_href appointment_href guarantor_href primary_insurance_company_id
        primary_insurance_company_href primary_relationship primary_medical_insurance
        primary_medical_insurance_id primary_medical_relationship primary_medical_subscriber_id
        subscriber_id other_referral patient_referral referred_out fee_no guarantor_first_name
        guarantor_last_name created_date preferred_contact preferred_communication_method
    """),
    _keys("""
        href patient_id guarantor_id firstname middlename lastname preferred_name salutation birthdate
        status patient_note medical_note alert_note other_note gender address_line1 address_line2 city state
        zipcode homephone workphone cell email employer_id employer_href billing_type first_visit last_visit
        provider_id provider_href practice_id practice_href appointment_href guarantor_href
        primary_insurance_company_id primary_insurance_company_href secondary_insurance_company_id
        secondary_insurance_company_href primary_relationship country primary_medical_insurance
        primary_medical_insurance_id primary_medical_relationship primary_medical_subscriber_id
        secondary_medical_insurance secondary_medical_insurance_id secondary_medical_relationship
        secondary_medical_subscriber_id secondary_relationship subscriber_id patient_account_id
        other_referral patient_referral referred_out referred_by_provider_id referred_by_patient_id image
        thumb_image fee_no guarantor_first_name guarantor_last_name created_date preferred_contact hygienist
        integration_ids patient_codes primary_insurance secondary_insurance other_phone
        preferred_communication_method ui_patient_id marital_status cust_id secondary_subscriber_id
        secondary_fee_schedule email_alert text_alert voice_alert primary_subscriber_patient_id
        secondary_subscriber_patient_id guarantor_bill_type guarantor_bill_type_description bill_type
        guarantor_patient_id rowhash chart_number preferred_recall_method exclude_message extension
        guarantor_is_send_statements guarantor_no_email_statements suppress_billing profile_status
    """),
)

APPOINTMENTS = Shape(
    _keys("""
        href patient_href patient_id guarantor_id provider_id provider_href practice_id practice_href
        guarantor_href amount status note surface_quadrant_type appointment_sr_no date time length
        description appointment_made_date type procedure_code1 procedure_code1_amount procedure_code2
        procedure_code2_amount procedure_code3 procedure_code3_amount patient_name guarantor_name
        procedure_code1_time procedure_code2_time procedure_code3_time surface_quadrant
    """),
    _keys("""
        href patient_href patient_id guarantor_id status provider_id provider_href practice_id practice_href
        guarantor_href hygienist amount note surface_quadrant_type appointment_sr_no operatory date time
        length description last_changed_date appointment_made_date type procedure_code1
        procedure_code1_amount procedure_code2 procedure_code2_amount procedure_code3 procedure_code3_amount
        procedure_code4 procedure_code4_amount procedure_code5 procedure_code5_amount procedure_code6
        procedure_code6_amount procedure_code7 procedure_code7_amount is_companion sooner_if_possible
        confirmed_on_date patient_name guarantor_name procedure_code1_time procedure_code2_time
        procedure_code3_time procedure_code4_time procedure_code5_time procedure_code6_time
        procedure_code7_time tooth_number surface_quadrant schedule treatment_class cancelled location
        procedure_codes cust_id is_confirmed rowhash original_provider status_in_office multiple_statuses
        performed cancelled_date arrival_status arrival_time in_chair_time walkout_time service_category
    """),
)

PROVIDERS = Shape(
    _keys("""
        href provider_id firstname lastname address_line1 address_line2 city state zipcode country phone
        provider_type specialty practice_id practice_href patient_href appointment_href status
        provider_account_id state_id tax_identification_number medicaid_id drug_id
        national_provider_identifier email birthdate hire_date graduated_date initials ssn other_id
        bluecross_id medicare_id fee_schedule_id federal_id_no federal_id_sub_no gl_sub_account_number
        is_hidden cust_id specialty_code
    """),
    _keys("""
        href patient_href firstname lastname birthdate status address_line1 address_line2 city state zipcode
        email provider_id practice_id practice_href appointment_href country cust_id
        national_provider_identifier provider_type provider_account_id state_id tax_identification_number
        medicaid_id graduated_date hire_date initials ssn phone speciality other_id bluecross_id medicare_id
        fee_schedule_id federal_id_no federal_id_sub_no gl_sub_account_number specialty_code is_organization
        is_hidden external_id is_user
    """),
)

OPERATORIES = _same("provider_id practice_id operatory cust_id is_hidden abbreviation")

PRACTICE_SCHEDULE = Shape(
    _keys("href practice_id practice_href date cust_id resource_type resource_id"),
    _keys("href practice_id practice_href date cust_id resource_type resource_id")
    + tuple(f"{day}_{edge}_{n}" for day in DAYS for n in (1, 2, 3) for edge in ("start", "end"))
    + tuple(f"{day}_holiday" for day in DAYS),
)

APPOINTMENT_STATUSES = _same("href status practice_id practice_href")

PRACTICE_VARIABLES = Shape(
    _keys("href practice_id practice_href description service_name value"),
    _keys("href practice_id practice_href description service_name value service_item"),
)

AVAILABLE_SLOTS = Shape(
    _keys("""
        href provider_id provider_href practice_id practice_href date time template_code template_unit
        template_color template_type old_color old_code scheduled_color scheduled_code
    """),
    _keys("""
        href provider_id provider_href practice_id practice_href date time end_time time_units operatory
        sr_no template_code template_unit template_color template_type old_color old_code scheduled_color
        scheduled_code cust_id
    """),
)

AUTHORIZED_PRACTICES = _same("""
    href city state practice_id address zip office_id domain secret_key practice_name
    practice_management_system financial_system practice_management_system_refresh_date
    data_synchronization_date data_insert_date practice_management_system_version
    practice_management_system_refresh_date_time_zone partner_id financial_system_refresh_date
    financial_system_version difference_in_minutes
""")

PRACTICE_LOCATION = _same("city state email practice_id phone zip_code address practice_name access")

WRITEBACK_STATUS = _same("""
    id office_id method api payload_body appointment_sr_no request_time is_completed has_error
    completed_time result practice_id status patient_id created_id
""")

WRITEBACKS = _same("""
    href description id result office_id method completed_time api_name api_request_body command_time
    duration_in_second
""")

WRITEBACK_FLAGS = _keys("""
    appointment_status_writeback payment_writeback new_appointment_writeback new_patient_writeback
    note_writeback claim_notes_status_writeback insurance_payment_writeback lab_result_writeback
""")

# The shapes below have no example body in tests/fixtures/sikka-examples: their keys are the documented
# field lists of sikka-reference.md, in its order.

SUPPORTED_PMSES = _same(
    """
    specialty domain practice_management_system practice_management_system_version
    display_practice_management_system_name
    """
    + " ".join(WRITEBACK_FLAGS)
)

WRITEBACK_DETAILS = _same("href practice_id practice_href description cust_id category item")

PRACTICES = _plus(
    """
    href patient_href provider_href appointment_href guarantor_href transaction_href practice_id name
    description address_line1 address_line2 city state zipcode phone email cust_id
    """,
    "country national_provider_identifier website is_main_office",
)

PMS_USERS = _plus(
    """
    href user_id firstname lastname address_line1 address_line2 city state zipcode phone specialty
    specialty_code status email birthdate hire_date practice_id practice_href cust_id
    """,
    "country",
)

AGING = tuple(
    f"{who}_amount_{bucket}"
    for who in ("patient", "insurance")
    for bucket in ("less_than_30", "between_30_60", "between_60_90", "greater_than_90")
)

PATIENT_BALANCE = _same(
    "patient_id firstname lastname practice_id practice_name customer_id chart_number current_date "
    + " ".join(AGING)
    + " patient_balance unapplied insurance_due patient_due account_balance write_off"
)

INSURANCE_COMPANIES = _plus(
    """
    href insurance_company_id payer_id address_line1 address_line2 city state zipcode country phone fax
    employer_id employer_href default_employer practice_id practice_href fee_no group_plan_number
    maximum_yearly_benefit maximum_family_benefit renew_month insurance_type plan_type sub_type
    is_maximum_coverage maximum_coverage_amount family_deductible_limit individual_deductible_limit
    individual_ortho_maximum_limit charge_per_visit notes insurance_plan_status
    mail_to_insurance_company_id pre_authorization_mail_to_insurance_company_id eligibility
    """,
    "insurance_company_name group_plan_name carrier_id cust_id rendering_provider_address",
)

INSURANCE_PLAN_COVERAGE = _same("""
    href practice_id practice_href insurance_company_id insurance_company_href procedure_code_from
    procedure_code_to co_pay percentage_covered category deductible is_deductible
""")

REQUEST_KEY_INFO = _keys("href status request_key start_time end_time expires_in issued_to request_count scope domain")
