"""The attribute actions of the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

Actions: ``X`` remove, ``Z`` replace with an empty value, ``D`` replace with a dummy value,
``U`` replace a UID by a consistent new one. Rules that apply by value representation
(every PN, every date, every UID, private tags, overlays/curves) are in :mod:`medmllm.io.deid`;
this table lists the attributes named by the profile that those rules do not cover.

Options (PS3.15 E.3) that :class:`~medmllm.io.deid.Deidentifier` can apply on top:
Retain Longitudinal Temporal Information with Modified Dates (dates shifted per patient),
Retain Patient Characteristics (age, sex, size, weight kept), Clean Descriptors (study/series
descriptions and protocol name kept after removing identifiers found in the same file).
"""

from __future__ import annotations

REMOVE = "X"
EMPTY = "Z"
DUMMY = "D"

# Identifying attributes replaced by an empty value (they are type 2 in most IODs).
EMPTY_KEYWORDS = (
    "AccessionNumber",
    "PatientBirthDate",
    "StudyID",
    "ReferringPhysicianName",
    "ContentCreatorName",
    "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest",
    "PatientSex",
)

# Attributes removed outright.
REMOVE_KEYWORDS = (
    "AcquisitionComments", "AcquisitionContextSequence", "ActualHumanPerformersSequence",
    "AdditionalPatientHistory", "AdmissionID", "AdmittingDate", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "AdmittingTime", "Allergies", "Arbitrary",
    "AuthorObserverSequence", "BranchOfService", "CassetteID",
    "CommentsOnThePerformedProcedureStep", "ConfidentialityConstraintOnPatientDataDescription",
    "ConsultingPhysicianName", "ConsultingPhysicianIdentificationSequence",
    "ContentCreatorIdentificationCodeSequence", "ContentSequence", "ContributionDescription",
    "CountryOfResidence", "CurrentPatientLocation", "CustodialOrganizationSequence",
    "DataSetTrailingPadding", "DerivationDescription", "DetectorID", "DeviceSerialNumber",
    "DigitalSignaturesSequence", "DischargeDiagnosisDescription", "DistributionAddress",
    "DistributionName", "EthnicGroup", "FrameComments", "GantryID", "GeneratorID",
    "GraphicAnnotationSequence", "HumanPerformerName", "HumanPerformerOrganization",
    "IconImageSequence", "IdentifyingComments", "ImageComments", "ImagePresentationComments",
    "ImagingServiceRequestComments", "Impressions", "InstitutionAddress",
    "InstitutionCodeSequence", "InstitutionName", "InstitutionalDepartmentName",
    "InsurancePlanIdentification", "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence", "InterpretationAuthor", "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer", "InterpretationRecorder", "InterpretationText",
    "InterpretationTranscriber", "IssuerOfAdmissionID", "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID", "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank",
    "ModifiedAttributesSequence", "ModifyingDeviceID", "ModifyingDeviceManufacturer",
    "NameOfPhysiciansReadingStudy", "NamesOfIntendedRecipientsOfResults", "Occupation",
    "OperatorIdentificationSequence", "OperatorsName", "OrderCallbackPhoneNumber",
    "OrderEnteredBy", "OrderEntererLocation", "OriginalAttributesSequence", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "ParticipantSequence", "PatientAddress",
    "PatientBirthName", "PatientBirthTime", "PatientComments", "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence", "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence", "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference", "PatientSexNeutered", "PatientState", "PatientTelecomInformation",
    "PatientTelephoneNumbers", "PatientTransportArrangements", "PerformedLocation",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformingPhysicianIdentificationSequence", "PerformingPhysicianName", "PersonAddress",
    "PersonIdentificationCodeSequence", "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PlateID", "PreMedication", "PregnancyStatus", "ReasonForStudy",
    "ReasonForTheImagingServiceRequest", "ReferencedPatientAliasSequence",
    "ReferencedPatientPhotoSequence", "ReferencedPatientSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RequestAttributesSequence", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription", "RequestedProcedureID",
    "RequestedProcedureLocation", "RequestingPhysician", "RequestingService",
    "ResponsibleOrganization", "ResponsiblePerson", "ResultsComments",
    "ResultsDistributionListSequence", "ResultsIDIssuer", "ReviewerName",
    "ScheduledHumanPerformersSequence", "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence", "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepLocation",
    "ServiceEpisodeDescription", "ServiceEpisodeID", "SmokingStatus", "SourceApplicationEntityTitle",
    "SpecialNeeds", "StationAETitle", "StationName", "StudyComments", "StudyIDIssuer",
    "TextComments", "TextString", "TimezoneOffsetFromUTC", "TopicAuthor", "TopicKeywords",
    "TopicSubject", "TopicTitle", "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName", "VerifyingObserverSequence", "VerifyingOrganization", "VisitComments",
    "PersonName", "IssuerOfAccessionNumberSequence",
    "ReferencedPerformedProcedureStepSequence", "PerformedProcedureStepEndDate",
    "ClinicalTrialSponsorName", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "ClinicalTrialProtocolName",
)

# Descriptors the basic profile removes; kept (after cleaning) with the Clean Descriptors option.
DESCRIPTOR_KEYWORDS = ("StudyDescription", "SeriesDescription", "ProtocolName")

# Kept with the Retain Patient Characteristics option, removed otherwise.
PATIENT_CHARACTERISTICS = ("PatientAge", "PatientSex", "PatientSize", "PatientWeight")

# UIDs that name a standard class or syntax, not an instance: never remapped.
CLASS_UID_KEYWORDS = (
    "SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
    "ReferencedSOPClassUID", "ReferencedSOPClassUIDInFile", "ReferencedTransferSyntaxUIDInFile",
    "CodingSchemeUID", "ContextGroupExtensionCreatorUID", "MappingResourceUID",
    "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID", "SOPClassesInStudy",
    "PrivateInformationCreatorUID",
)

# Identifying values collected from a dataset to clean free text (Clean Descriptors, meta).
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate",
    "PatientBirthName", "PatientMotherBirthName", "PatientAddress", "AccessionNumber",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
    "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician", "StationName", "StudyID",
    "MedicalRecordLocator", "PatientTelephoneNumbers",
)
