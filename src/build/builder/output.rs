//! What a build shows while it runs, on standard error. Plain (CI, a pipe): one line per step
//! (`STEP 2/5: RUN make`, `--> Using cache`) and the RUN output as it comes. Tty (a terminal):
//! each step's line, then under it the last lines of its RUN output redrawn in place; once the
//! step is over the tail goes and the line says `CACHED` or `DONE 1.2s`. A step that fails keeps
//! its tail on the screen, above the error. Quiet (`-q`): nothing.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Plain,
    Tty,
    Quiet,
}

/// How many lines of a RUN's output the tty view shows.
const TAIL_LINES: usize = 6;
/// Output lines are cut to this many characters in the tty view (a terminal wraps longer ones,
/// which would break the redraw).
const TAIL_WIDTH: usize = 100;

#[derive(Default)]
struct TtyState {
    /// The current step's line and when it began.
    step: Option<(String, Instant)>,
    cached: bool,
    tail: VecDeque<String>,
    /// Output after the last newline.
    partial: String,
    /// Lines of tail on the screen under the step line.
    drawn: usize,
}

pub struct Output {
    progress: Progress,
    tty: Mutex<TtyState>,
}

impl Output {
    pub fn new(progress: Progress) -> Output {
        Output { progress, tty: Mutex::default() }
    }

    /// `auto`: the tty view when standard error is a terminal, plain lines otherwise.
    pub fn auto() -> Progress {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) { Progress::Tty } else { Progress::Plain }
    }

    fn line(&self, text: &str) {
        if self.progress == Progress::Plain {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    pub fn step(&self, number: usize, total: usize, text: &str) {
        let text = format!("STEP {number}/{total}: {text}");
        if self.progress != Progress::Tty {
            return self.line(&text);
        }
        let mut state = self.tty.lock().unwrap_or_else(|e| e.into_inner());
        let mut screen = String::new();
        end_step(&mut state, &mut screen);
        screen.push_str(&format!("{text}\n"));
        state.step = Some((text, Instant::now()));
        write_screen(&screen);
    }

    pub fn cached(&self) {
        if self.progress == Progress::Tty {
            self.tty.lock().unwrap_or_else(|e| e.into_inner()).cached = true;
        }
        self.line("--> Using cache");
    }

    pub fn note(&self, text: &str) {
        if self.progress == Progress::Tty {
            // Above nothing of the step's: after its line (and tail) is final.
            let mut state = self.tty.lock().unwrap_or_else(|e| e.into_inner());
            let mut screen = String::new();
            end_step(&mut state, &mut screen);
            screen.push_str(&format!("{text}\n"));
            return write_screen(&screen);
        }
        self.line(text);
    }

    /// Output of a RUN command, as it comes.
    pub fn step_output(&self, bytes: &[u8]) {
        match self.progress {
            Progress::Plain => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(bytes);
                let _ = err.flush();
            }
            Progress::Tty => {
                let mut state = self.tty.lock().unwrap_or_else(|e| e.into_inner());
                state.partial.push_str(&String::from_utf8_lossy(bytes));
                while let Some(end) = state.partial.find('\n') {
                    let line: String = state.partial[..end].chars().filter(|c| !c.is_control()).collect();
                    state.partial.drain(..=end);
                    state.tail.push_back(line.chars().take(TAIL_WIDTH).collect());
                    if state.tail.len() > TAIL_LINES {
                        state.tail.pop_front();
                    }
                }
                let mut screen = String::new();
                redraw_tail(&mut state, &mut screen);
                write_screen(&screen);
            }
            Progress::Quiet => {}
        }
    }

    /// The build is done: the last step's line says so.
    pub fn finish(&self) {
        if self.progress == Progress::Tty {
            let mut state = self.tty.lock().unwrap_or_else(|e| e.into_inner());
            let mut screen = String::new();
            end_step(&mut state, &mut screen);
            write_screen(&screen);
        }
    }
}

/// Moves up over the drawn tail, clearing it.
fn clear_tail(state: &mut TtyState, screen: &mut String) {
    for _ in 0..state.drawn {
        screen.push_str("\x1b[1A\x1b[2K");
    }
    state.drawn = 0;
}

fn redraw_tail(state: &mut TtyState, screen: &mut String) {
    clear_tail(state, screen);
    for line in &state.tail {
        screen.push_str(&format!("\x1b[2m  {line}\x1b[0m\n"));
    }
    state.drawn = state.tail.len();
}

/// The current step (if any) is over: its tail goes and its line is rewritten with the result.
fn end_step(state: &mut TtyState, screen: &mut String) {
    let Some((text, started)) = state.step.take() else { return };
    clear_tail(state, screen);
    let result =
        if state.cached { "CACHED".to_owned() } else { format!("DONE {:.1}s", started.elapsed().as_secs_f64()) };
    // Up to the step's line, rewritten.
    screen.push_str(&format!("\x1b[1A\x1b[2K{text} {result}\n"));
    state.cached = false;
    state.tail.clear();
    state.partial.clear();
}

fn write_screen(screen: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(screen.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_step_loses_its_tail_and_says_how_it_ended() {
        let mut state = TtyState { step: Some(("STEP 1/2: RUN x".into(), Instant::now())), ..Default::default() };
        state.tail.extend(["a".to_owned(), "b".to_owned()]);
        let mut screen = String::new();
        redraw_tail(&mut state, &mut screen);
        assert_eq!(screen, "\x1b[2m  a\x1b[0m\n\x1b[2m  b\x1b[0m\n");
        let mut screen = String::new();
        end_step(&mut state, &mut screen);
        assert!(
            screen.starts_with("\x1b[1A\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2KSTEP 1/2: RUN x DONE 0.0s\n"),
            "{screen:?}"
        );
        assert!(state.step.is_none() && state.tail.is_empty() && state.drawn == 0);
        state.step = Some(("STEP 2/2: COPY a b".into(), Instant::now()));
        state.cached = true;
        let mut screen = String::new();
        end_step(&mut state, &mut screen);
        assert_eq!(screen, "\x1b[1A\x1b[2KSTEP 2/2: COPY a b CACHED\n");
    }
}
