//! CSV as spreadsheets read it safely: a cell a spreadsheet would take for a formula (it
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, so a name
//! typed into the service can never run in the reader's spreadsheet.

use std::borrow::Cow;

/// `text` as a cell.
pub(crate) fn cell(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A CSV writer into memory, `;`-separated as French spreadsheets expect.
pub(crate) fn writer() -> csv::Writer<Vec<u8>> {
    writer_after(Vec::new())
}

/// The writer of a file's first batch: the byte-order mark (without which spreadsheets read
/// UTF-8 as Latin-1), then `header`.
pub(crate) fn file_start(header: &[&str]) -> Result<csv::Writer<Vec<u8>>, csv::Error> {
    let mut out = writer_after("\u{feff}".as_bytes().to_vec());
    out.write_record(header)?;
    Ok(out)
}

fn writer_after(start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().delimiter(b';').from_writer(start)
}

/// The bytes `writer` wrote.
pub(crate) fn bytes(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_other_text_is_left_alone() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("Jean-Pierre"), "Jean-Pierre");
        assert_eq!(cell(""), "");
    }
}
