package main

// Message is what GET / answers: edit it, save, and the new build serves.
const Message = "hello, version 1"
