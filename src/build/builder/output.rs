//! What a build shows while it runs: one line per step (`STEP 2/5: RUN make`, `--> Using cache`)
//! and the RUN output, on standard error; nothing with `-q`.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Plain,
    Quiet,
}

pub struct Output {
    progress: Progress,
}

impl Output {
    pub fn new(progress: Progress) -> Output {
        Output { progress }
    }

    fn line(&self, text: &str) {
        if self.progress == Progress::Plain {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    pub fn step(&self, number: usize, total: usize, text: &str) {
        self.line(&format!("STEP {number}/{total}: {text}"));
    }

    pub fn cached(&self) {
        self.line("--> Using cache");
    }

    pub fn note(&self, text: &str) {
        self.line(text);
    }

    /// Output of a RUN command, as it comes.
    pub fn step_output(&self, bytes: &[u8]) {
        if self.progress == Progress::Plain {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(bytes);
            let _ = err.flush();
        }
    }
}
