//! Zoho's timestamps: ISO-8601 UTC with milliseconds (`2016-06-21T16:16:16.000Z`), parsed into
//! real date-times and written back in the same form.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A Zoho timestamp.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZohoTime(pub OffsetDateTime);

impl ZohoTime {
    /// The date-time in UTC.
    pub fn utc(self) -> OffsetDateTime {
        self.0.to_offset(time::UtcOffset::UTC)
    }

    /// `2016-06-21T16:16:16.000Z`.
    pub fn to_zoho_string(self) -> String {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        self.utc().format(&format).unwrap_or_default()
    }
}

impl fmt::Debug for ZohoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_zoho_string())
    }
}

impl fmt::Display for ZohoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_zoho_string())
    }
}

impl Serialize for ZohoTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_zoho_string())
    }
}

impl<'de> Deserialize<'de> for ZohoTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(ZohoTime)
            .map_err(|e| serde::de::Error::custom(format!("invalid Zoho timestamp {text:?}: {e}")))
    }
}

/// Counts arrive as JSON strings (`"threadCount":"7"`); accepted as strings or numbers, written
/// back as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Count(pub u64);

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Count(n)),
            Raw::Text(text) => text
                .trim()
                .parse()
                .map(Count)
                .map_err(|_| serde::de::Error::custom(format!("invalid count {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_times_round_trip_with_milliseconds() {
        let time: ZohoTime = serde_json::from_str(r#""2016-06-21T16:16:16.000Z""#).unwrap();
        assert_eq!(time.utc().year(), 2016);
        assert_eq!(
            serde_json::to_string(&time).unwrap(),
            r#""2016-06-21T16:16:16.000Z""#
        );
        let offset: ZohoTime = serde_json::from_str(r#""2016-06-21T18:16:16.250+02:00""#).unwrap();
        assert_eq!(offset.to_zoho_string(), "2016-06-21T16:16:16.250Z");
        assert!(serde_json::from_str::<ZohoTime>(r#""yesterday""#).is_err());
    }

    #[test]
    fn counts_accept_strings_and_numbers() {
        assert_eq!(serde_json::from_str::<Count>(r#""7""#).unwrap(), Count(7));
        assert_eq!(serde_json::from_str::<Count>("7").unwrap(), Count(7));
        assert_eq!(serde_json::to_string(&Count(7)).unwrap(), r#""7""#);
        assert!(serde_json::from_str::<Count>(r#""seven""#).is_err());
    }
}
