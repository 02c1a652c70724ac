// A COPY of server.js (the seed's servers, verbatim) with the seed's real defects fixed, as a user
// would fix them: the conformance gate must report 0 FAILED on it against scenarios/apps/seed.yaml.
// Same markers as server.js, plus
//   // fix: ...      a line added or changed to fix a defect (tests/targets/README.md lists them)
// and no `// fault:` lines (this copy has no faults).
//
//   node tests/targets/seed/fixed.js --port 0 --jwt-secret S
//   -> seed server (fixed) listening on http://127.0.0.1:PORT
const glue = require('./glue');  // added: command line, harness events, faults, start line

// ---- "Socket.IO Server" (seed lines 88-150) ----
const express = require('express');
const http = require('http');
const socketIO = require('socket.io');

const app = express();
const server = http.createServer(app);
const io = socketIO(server, {
  ...glue.options.engine,  // added: --ping-interval / --ping-timeout (the official suites' 300 / 200 ms)
  cors: {
    origin: '*',
    methods: ['GET', 'POST']
  }
});

// Serve static files
app.use(express.static('public'));

// Connection handling
io.on('connection', (socket) => {
  console.log('User connected:', socket.id);
  
  // Listen for custom events
  socket.on('chat message', (msg) => {
    console.log('Message:', msg);
    
    // Broadcast to all clients
    io.emit('chat message', msg);
  });
  
  // Join room
  socket.on('join room', (room) => {
    if (glue.othersRoom(io, socket, room)) return;  // fix: no joining a room named like another socket's id (it would read that socket's private messages)
    socket.join(room);
    socket.emit('joined', room);
    socket.to(room).emit('user joined', socket.id);
  });
  
  // Leave room
  socket.on('leave room', (room) => {
    socket.leave(room);
    socket.to(room).emit('user left', socket.id);
  });
  
  // Private message
  socket.on('private message', (payload) => {  // fix: was socket.on('private message', ({ to, message }) => {  -- a non-object crashed the server
    if (payload === null || typeof payload !== 'object') return;  // fix: ignore a non-object
    const { to, message } = payload;  // fix: the destructuring, now safe
    socket.to(to).emit('private message', {
      from: socket.id,
      message
    });
  });
  
  // Disconnect
  socket.on('disconnect', () => {
    console.log('User disconnected:', socket.id);
  });
});

server.listen(glue.options.port, glue.options.host, () => {  // changed: was server.listen(3000, () => {
  console.log('Server running on http://localhost:3000');
  glue.started(server, 'seed server (fixed) listening on');  // added: the launcher's start line
});

// ---- "Chat Application" (seed lines 201-270): a second, complete server program of its own ----
{  // added: a block scope, so its express/http/socketIO/app/server/io do not clash with the above
const express = require('express');
const http = require('http');
const socketIO = require('socket.io');

const app = express();
const server = http.createServer(app);
const io = socketIO(server);

// Store users
const users = new Map();

io.on('connection', (socket) => {
  // User joins
  socket.on('join', (username) => {
    users.set(socket.id, username);
    
    // Notify everyone
    io.emit('user joined', {
      id: socket.id,
      username,
      userCount: users.size
    });
    
    // Send existing users
    socket.emit('users', Array.from(users.entries()).map(([id, name]) => ({
      id,
      username: name
    })));
  });
  
  // New message
  socket.on('message', (text) => {
    const username = users.get(socket.id);
    
    io.emit('message', {
      id: Date.now(),
      username,
      text,
      timestamp: new Date()
    });
  });
  
  // Typing indicator
  socket.on('typing', () => {
    const username = users.get(socket.id);
    socket.broadcast.emit('typing', { username });
  });
  
  socket.on('stop typing', () => {
    const username = users.get(socket.id);
    socket.broadcast.emit('stop typing', { username });
  });
  
  // Disconnect
  socket.on('disconnect', () => {
    const username = users.get(socket.id);
    users.delete(socket.id);
    
    io.emit('user left', {
      username,
      userCount: users.size
    });
  });
});

server.listen(glue.options.chatPort, glue.options.host, () => glue.started(server, 'seed chat application at'));  // changed: was server.listen(3000);
}  // added: end of the Chat Application's block scope

// ---- "Rooms and Namespaces" (seed lines 272-325), on the "Socket.IO Server" io ----
// Namespaces
const chat = io.of('/chat');
const admin = io.of('/admin');

chat.on('connection', (socket) => {
  console.log('Chat connection');
  
  socket.on('message', (msg) => {
    chat.emit('message', msg);
  });
});

admin.on('connection', (socket) => {
  console.log('Admin connection');
  
  socket.on('broadcast', (msg) => {
    // Broadcast to all namespaces
    io.emit('announcement', msg);
  });
});

// Rooms
io.on('connection', (socket) => {
  // Join room
  socket.on('join', (room) => {
    if (glue.othersRoom(io, socket, room)) return;  // fix: no joining a room named like another socket's id (it would read that socket's private messages)
    socket.join(room);
    
    // Message to room
    io.to(room).emit('user joined', socket.id);
  });
  
  // Room message
  socket.on('room message', (payload) => {  // fix: was socket.on('room message', ({ room, message }) => {  -- a non-object crashed the server
    if (payload === null || typeof payload !== 'object') return;  // fix: ignore a non-object
    const { room, message } = payload;  // fix: the destructuring, now safe
    io.to(room).emit('message', {
      room,
      from: socket.id,
      message
    });
  });
  
  // Leave room
  socket.on('leave', (room) => {
    socket.leave(room);
    io.to(room).emit('user left', socket.id);
  });
  
  // Get rooms
  console.log(socket.rooms); // Set of rooms socket is in
});

// ---- "Authentication" (seed lines 358-401) ----
const jwt = require('jsonwebtoken');

// Middleware
io.use((socket, next) => {
  const token = socket.handshake.auth.token;
  
  if (!token) {
    return next(new Error('Authentication error'));
  }
  
  try {
    const decoded = jwt.verify(token, process.env.JWT_SECRET);
    socket.userId = decoded.userId;
    next();
  } catch (error) {
    next(new Error('Invalid token'));
  }
});

io.on('connection', (socket) => {
  console.log('Authenticated user:', socket.userId);
  
  // Access userId in events
  socket.on('message', (msg) => {
    const userId = socket.userId;
    // Process message
  });
});

// excluded: // Client side
// excluded: const socket = io({
// excluded:   auth: {
// excluded:     token: 'your-jwt-token'
// excluded:   }
// excluded: });
// excluded:
// excluded: // Handle auth errors
// excluded: socket.on('connect_error', (error) => {
// excluded:   console.error('Connection error:', error.message);
// excluded: });

// ---- "Heartbeat/Ping-Pong" (seed lines 492-520) ----
// Server
io.on('connection', (socket) => {
  socket.isAlive = true;
  
  socket.on('pong', () => {
    socket.isAlive = true;
  });
});

// Check every 30 seconds
setInterval(() => {
  io.sockets.sockets.forEach((socket) => {
    if (!socket.isAlive) {
      return socket.disconnect();
    }
    
    socket.isAlive = false;
    socket.emit('ping');
  });
}, 30000);

// excluded: // Client
// excluded: socket.on('ping', () => {
// excluded:   socket.emit('pong');
// excluded: });

// ---- added: the official test suites' harness (docs/events.md) on / and /custom ----
glue.harness(io);  // added
glue.harness(io.of('/custom'), { events: false });  // added: `auth` only
